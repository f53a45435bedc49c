"""Engine evaluation on labelled synthetic sessions (`make eval`)."""

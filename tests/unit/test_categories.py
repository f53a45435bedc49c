"""One category list, the engine's: every other place that names categories agrees with it."""

import subprocess
import sys

from chargewatch import categories
from chargewatch.services import explainers, read_model
from chargewatch_tools.synth import generator
from csar import categories as engine
from csar import result


def test_the_api_names_and_describes_exactly_the_engines_categories():
    assert set(categories.CATEGORY_INFO) == set(engine.CATEGORIES)
    for code in engine.CATEGORIES:
        name, description = categories.CATEGORY_INFO[code]
        assert name and description.endswith("."), code


def test_billing_relevance_is_defined_once_by_the_engine():
    assert read_model.BILLING_RELEVANT is engine.BILLING_RELEVANT is result.BILLING_RELEVANT
    assert engine.BILLING_RELEVANT < set(engine.CATEGORIES)
    assert read_model.REVENUE_LEAK_CATEGORIES <= engine.BILLING_RELEVANT
    # phantom energy is billing-relevant (it counts at risk) and never part of the leak estimate
    assert engine.PHANTOM_ENERGY <= engine.BILLING_RELEVANT
    assert not engine.PHANTOM_ENERGY & read_model.REVENUE_LEAK_CATEGORIES


def test_every_category_another_module_names_is_one_of_the_engines():
    assert generator.CATEGORIES is engine.CATEGORIES
    named = {code for codes in explainers.TOPIC_CATEGORIES.values() for code in codes}
    assert named and named <= set(engine.CATEGORIES)


def test_reading_the_category_list_loads_no_numpy():
    code = "import sys, chargewatch.categories, csar.categories; print('numpy' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )

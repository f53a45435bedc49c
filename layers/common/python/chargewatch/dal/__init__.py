"""Data access for the single table. Every function takes the tenant (organization id) first;
nothing here can read tenant data without one, and nothing here scans."""

"""Methods: the one registry of the five methods, their configs and their losses."""

"""CAN ingest: python-can buses and log replay into frame records (see replay and bus modules)."""

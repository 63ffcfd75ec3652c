"""Constants in one place: environment variables, units, defaults.

Every footprint figure in DIA carries its unit in its name (``energy_kwh``,
``carbon_kg``, ``water_l``); the unit strings below are what ``Quantity.unit`` holds.
"""

from __future__ import annotations

SCHEMA_VERSION = "1.0"
TOOL_NAME = "dia"

# Units stored in Quantity.unit
UNIT_ENERGY = "kWh"
UNIT_CARBON = "kgCO2e"
UNIT_WATER = "L"
UNIT_WH_PER_1000_INFERENCES = "Wh/1000 inferences"
UNIT_J_PER_TOKEN = "J/token"

# Environment variables
ENV_DATABASE_URL = "DIA_DATABASE_URL"
ENV_COUNTRY = "DIA_COUNTRY"
ENV_REGION = "DIA_REGION"
ENV_CLOUD_PROVIDER = "DIA_CLOUD_PROVIDER"
ENV_CLOUD_REGION = "DIA_CLOUD_REGION"
ENV_CONFIG = "DIA_CONFIG"
ENV_CHECKPOINT_S = "DIA_CHECKPOINT_S"
ENV_HUB_AUTOFILL = "DIA_HUB_AUTOFILL"

# Defaults
DEFAULT_CHECKPOINT_S = 10.0
DEFAULT_SAMPLE_INTERVAL_S = 1.0
# A running run whose heartbeat is older than this many checkpoint intervals, and
# whose process is gone, is shown as interrupted.
STALE_HEARTBEAT_FACTOR = 3.0

APP_NAME = "dia"
DEFAULT_DB_FILENAME = "dia.sqlite"

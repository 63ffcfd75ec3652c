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

# Environment variables: every DIA_* variable is defined and parsed in dia.settings.

# Defaults
DEFAULT_SAMPLE_INTERVAL_S = 1.0
# A running run whose heartbeat is older than this many checkpoint intervals, and
# whose process is gone, is shown as interrupted.
STALE_HEARTBEAT_FACTOR = 3.0

APP_NAME = "dia"
DEFAULT_DB_FILENAME = "dia.sqlite"

"""CPU meters (RAPL through Linux powercap)."""

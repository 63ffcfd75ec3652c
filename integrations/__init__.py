"""Framework integrations: Transformers, Lightning, torch (installed as ``dia.integrations``)."""

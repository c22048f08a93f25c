"""The paper's experiments; workflow scripts are thin wrappers around these."""

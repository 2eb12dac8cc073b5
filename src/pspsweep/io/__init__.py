"""Readers for ISF input files (morphology, cell parameters, embedding, measured EPSPs) into plain data."""

"""OpenDSC host tools: verify OCRA responses and talk to a token."""

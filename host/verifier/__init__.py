"""The OpenDSC verifier: the login service that issues challenges and judges responses.

A library (service.Verifier) over a storage layer (store), with secrets
encrypted at rest (vault) and passwords hashed with scrypt (passwords).
"""

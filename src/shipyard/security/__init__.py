"""Identities, API keys and the one authorization door every route goes through."""

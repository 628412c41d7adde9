"""Test doubles: real servers that speak a dependency's protocol with scripted answers."""

"""Piloto's shared code: the domain, the services over it and one adapter per outside system."""

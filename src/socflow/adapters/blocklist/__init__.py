"""The block-list service: SQLite store, plain-text lists for firewalls, JSON API for responders."""

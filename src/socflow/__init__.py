"""socflow: turn logs into enriched TheHive alerts; Cortex analyzers and responders for SOC teams.

The core (read → parse → extract → classify → enrich → emit) lives in the sub-packages; the
adapters (Cortex, TheHive bridge, blocklist service, CLI) sit on top and are never imported here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

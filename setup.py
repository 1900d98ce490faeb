"""Build hook for the one optional C extension; all metadata lives in setup.cfg.

The extension speeds up the extractor's per-line loop. ``optional=True``: where no C compiler is
available the build carries on and socflow uses the pure-Python loop (same results, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "socflow._native",
            ["src/socflow/_native.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)

"""The one compiled part of cdlog: the native hot loops (cdlog/_native/_speedups.c).

Everything else is in pyproject.toml. The extension is optional: without a C compiler (or
with ``CC=false``) the build of it fails, setuptools goes on, and cdlog runs on its
pure-Python code (``cdlog.native_status()`` says which is active).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cdlog._native._speedups",
            sources=["cdlog/_native/_speedups.c", "cdlog/_native/verify.c",
                     "cdlog/_native/views.c", "cdlog/_native/audit.c",
                     "cdlog/_native/times.c"],
            depends=["cdlog/_native/speedups.h"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                "-Wno-missing-field-initializers"],
            optional=True,
        ),
    ],
)

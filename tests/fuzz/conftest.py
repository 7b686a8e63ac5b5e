"""Hypothesis profiles for the fuzz targets: ``ci`` (the default here) and ``long``.

``pytest tests/fuzz`` runs each target for the ``ci`` profile's examples;
``pytest tests/fuzz --hypothesis-profile=long`` runs the long mode (this folder
must be on the command line, so that this file is read before the option is).
The profiles only apply to the fuzz targets (see ``fuzzing.fuzz_settings``),
never to the other Hypothesis tests of the suite.
"""

from fuzzing import register_profiles

register_profiles()

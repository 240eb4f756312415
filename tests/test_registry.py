"""Every registry of mmprompt points at modules that exist."""
import importlib

import pytest

import mmprompt.registry as registry


@pytest.mark.parametrize('name', registry.__all__)
def test_registry_locations_import(name):
    reg = getattr(registry, name)
    assert reg.scope == 'mmprompt'
    assert reg._locations, f'{name} has no locations'
    for location in reg._locations:
        importlib.import_module(location)

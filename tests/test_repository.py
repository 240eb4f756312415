"""The repository's shape: every config family documented and indexed for
mim, links that resolve, no reference to files that are not here."""
import ast
import glob
import os
import os.path as osp
import re

import pytest
import yaml

from helpers import REPO

FAMILIES = sorted(
    d for d in os.listdir(osp.join(REPO, 'configs'))
    if d != '_base_' and osp.isdir(osp.join(REPO, 'configs', d)))


@pytest.mark.parametrize('family', FAMILIES)
def test_family_has_readme_and_metafile(family):
    folder = osp.join(REPO, 'configs', family)
    assert osp.isfile(osp.join(folder, 'README.md')), family
    with open(osp.join(folder, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    names = [c['Name'] for c in meta['Collections']]
    assert meta['Models'], family
    for model in meta['Models']:
        assert model['In Collection'] in names
        assert osp.isfile(osp.join(REPO, model['Config'])), model['Config']
    # every leaf of the family is listed
    leaves = {
        osp.relpath(p, REPO)
        for p in glob.glob(osp.join(folder, '**', '*.py'), recursive=True)
        if not osp.basename(p).startswith('_base_')
    }
    assert leaves == {m['Config'] for m in meta['Models']}


def test_model_index_imports_every_metafile():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert sorted(index['Import']) == sorted(f'configs/{f}/metafile.yml'
                                             for f in FAMILIES)


DOCS = [osp.join(REPO, 'README.md')] + glob.glob(
    osp.join(REPO, 'docs', '**', '*.md'), recursive=True) + glob.glob(
        osp.join(REPO, 'configs', '*', 'README.md'))


@pytest.mark.parametrize('doc', [osp.relpath(d, REPO) for d in DOCS])
def test_relative_links_resolve(doc):
    with open(osp.join(REPO, doc)) as f:
        text = f.read()
    for target in re.findall(r'\]\(([^)#\s]+)', text):
        if target.startswith(('http://', 'https://')):
            continue
        path = osp.normpath(osp.join(REPO, osp.dirname(doc), target))
        assert osp.exists(path), f'{doc} links to missing {target}'


def test_no_reference_to_the_team_design_file():
    hits = []
    for pattern in ('mmprompt/**/*.py', 'tools/**/*.py', 'tests/**/*.py',
                    'docs/**/*.md', 'configs/**/*.md', '*.md'):
        for path in glob.glob(osp.join(REPO, pattern), recursive=True):
            with open(path, encoding='utf-8') as f:
                if 'DESIGN' + '.md' in f.read():
                    hits.append(osp.relpath(path, REPO))
    assert hits == []


def _package_modules():
    """``{module name: (path, ast)}`` of every module of mmprompt."""
    modules = {}
    for path in glob.glob(
            osp.join(REPO, 'mmprompt', '**', '*.py'), recursive=True):
        rel = osp.relpath(path, REPO)[:-3].replace(osp.sep, '.')
        name = rel[:-len('.__init__')] if rel.endswith('.__init__') else rel
        with open(path, encoding='utf-8') as f:
            modules[name] = (path, ast.parse(f.read()))
    return modules


def _imported(name, node, modules):
    """The mmprompt modules one import statement of module ``name`` loads
    (``from pkg import sub`` loads ``pkg.sub``)."""
    is_package = modules[name][0].endswith('__init__.py')
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    else:
        base = node.module or ''
        if node.level:
            parts = name.split('.')
            parts = parts[:len(parts) - node.level + is_package]
            base = '.'.join(parts + ([base] if base else []))
        targets = [base] + [f'{base}.{a.name}' for a in node.names]
    return {t for t in targets if t in modules and t != name}


def test_no_import_cycles():
    """The import statements of mmprompt form no cycle (a cycle is what
    function-local imports used to hide). Loading a module's parent
    packages is left out, as Python does it before any statement runs."""
    modules = _package_modules()
    graph = {
        name:
        set().union(*([
            _imported(name, n, modules) for n in ast.walk(tree)
            if isinstance(n, (ast.Import, ast.ImportFrom))
        ] or [set()]))
        for name, (_, tree) in modules.items()
    }
    done, stack = set(), []

    def visit(name):
        if name in stack:
            raise AssertionError('import cycle: ' +
                                 ' -> '.join(stack[stack.index(name):] +
                                             [name]))
        if name in done:
            return
        stack.append(name)
        for target in sorted(graph[name]):
            visit(target)
        stack.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


# Imported inside functions or guarded blocks only: what a user may lack
# (yapf: the lint tools, which only writing configs needs; tensorflow_datasets:
# prepare_vtab's [vtab] extra).
OPTIONAL_IMPORTS = ('mmcv', 'mmseg', 'mmdet', 'onnx', 'onnxruntime',
                    'safetensors', 'yapf', 'tensorflow_datasets')


def test_deferred_imports_are_optional_dependencies_and_say_so():
    """An import below module level is of an optional dependency (or of a
    module that needs one, behind a check that it is usable), with a
    comment saying so on its line or the line above."""
    offenders = []
    for name, (path, tree) in _package_modules().items():
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
        top = set(tree.body)  # module level, a try/except fallback too
        top.update(
            n for t in tree.body if isinstance(t, ast.Try)
            for block in [t.body] + [h.body for h in t.handlers]
            for n in block)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) \
                    or node in top:
                continue
            module = node.names[0].name if isinstance(
                node, ast.Import) else node.module or ''
            said = '\n'.join(lines[max(0, node.lineno - 4):node.lineno])
            optional = module.split('.')[0] in OPTIONAL_IMPORTS or (getattr(
                node, 'level', 0) and 'dense_library_ready' in said)
            if not (optional and
                    ('optional' in said or 'dense_library_ready' in said
                     or 'placeholder' in said)):
                offenders.append(f'{osp.relpath(path, REPO)}:'
                                 f'{node.lineno} {module}')
    assert offenders == []


def test_tests_import_the_package_not_scripts_or_other_tests():
    """A test module imports mmprompt (and helpers.py), never another test
    module, and never a script of tools/ by its path: what tests need of
    a tool lives in the package; tools run only as commands."""
    tests = sorted(glob.glob(osp.join(REPO, 'tests', 'test_*.py')))
    names = {osp.splitext(osp.basename(p))[0] for p in tests}
    offenders = []
    for path in tests:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                imported = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                imported = [node.module or '']
            else:
                continue
            offenders += [
                f'{osp.basename(path)} imports {m}' for m in imported
                if m.split('.')[0] in names
            ]
        if 'spec_from_file_' + 'location' in text or re.search(
                r'sys\.path\.insert\([^)]*' + 'tools', text):
            offenders.append(f'{osp.basename(path)} loads a script by path')
    assert offenders == []

"""The repository's shape: every config family documented and indexed for
mim, links that resolve, no reference to files that are not here."""
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


def test_library_files_stay_small():
    """One class or concern per file: nothing in mmprompt/ much above 400
    lines."""
    sizes = {}
    for path in glob.glob(
            osp.join(REPO, 'mmprompt', '**', '*.py'), recursive=True):
        with open(path, encoding='utf-8') as f:
            sizes[osp.relpath(path, REPO)] = sum(1 for _ in f)
    assert {p: n for p, n in sizes.items() if n > 420} == {}

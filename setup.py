import os
import os.path as osp
import shutil
import sys
from setuptools import find_packages, setup


def get_version():
    scope = {}
    with open(osp.join('mmprompt', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def parse_requirements(fname):
    """Requirement lines of ``requirements/<fname>``, comments dropped."""
    with open(osp.join('requirements', fname)) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip() and not line.startswith(('-r', '--'))
        ]


def add_mim_extension():
    """Copy (or link, for editable installs) tools and configs into the
    package under ``mmprompt/.mim`` so that ``mim train mmprompt CONFIG``
    finds them, like every OpenMMLab package."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    mim_path = osp.join(osp.dirname(__file__), 'mmprompt', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src = osp.join(osp.dirname(__file__), name)
        if not osp.exists(src):
            continue
        dst = osp.join(mim_path, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmprompt',
        version=get_version(),
        description='Visual prompt tuning of Vision Transformers for '
        'OpenMMLab 2.x (mmpretrain, mmsegmentation, mmdetection)',
        long_description=open('README.md', encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        keywords='visual prompt tuning, vision transformer, openmmlab',
        packages=find_packages(exclude=('configs', 'tools', 'tests')),
        include_package_data=True,
        python_requires='>=3.8',
        license='Apache License 2.0',
        install_requires=parse_requirements('runtime.txt'),
        extras_require={
            'seg':
            parse_requirements('seg.txt'),
            'det':
            parse_requirements('det.txt'),
            'convert':
            parse_requirements('convert.txt'),
            'vtab':
            parse_requirements('vtab.txt'),
            'tests':
            parse_requirements('tests.txt'),
            'all':
            (parse_requirements('seg.txt') + parse_requirements('det.txt') +
             parse_requirements('convert.txt') +
             parse_requirements('vtab.txt')),
        },
        zip_safe=False)

"""tools/slurm_train.sh against a real single-node Slurm.

The fixture starts munged, slurmctld and slurmd (Debian's ``slurm-wlm`` and
``munge``; ``tools/run_tests.sh`` installs them) on this machine with their
own key, socket, ports, spool and state under a temporary folder, declares
two count-only GPUs (``--gres=gpu:N`` of the OpenMMLab script must be
satisfiable on a CPU machine), and tears everything down afterwards.
"""
import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from helpers import REPO, free_port, load, run

DAEMONS = ('munged', 'mungekey', 'slurmctld', 'slurmd', 'srun', 'sinfo')

SLURM_CONF = '''
ClusterName=mmprompttest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName={host} CPUs={cpus} Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP \
OverSubscribe=YES
'''
# count-only GPUs need a device file each; nothing opens them
GRES_CONF = '''NodeName={host} Name=gpu File=/dev/null
NodeName={host} Name=gpu File=/dev/zero
'''


def _stop(pid_file):
    if osp.isfile(pid_file):
        try:
            os.kill(int(open(pid_file).read().split()[0]), signal.SIGTERM)
        except ProcessLookupError:
            pass


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    missing = [
        d for d in DAEMONS if shutil.which(d) is None
        and not osp.isfile(osp.join('/usr/sbin', d))
    ]
    if missing:
        pytest.fail(f'Slurm test: {missing} not installed; install them with '
                    "'apt-get install slurm-wlm munge' (tools/run_tests.sh "
                    'does)')
    if os.geteuid() != 0:
        pytest.fail('Slurm test: starting slurmd and munged needs root')
    root = tmp_path_factory.mktemp('slurm')
    for sub in ('state', 'spool'):
        (root / sub).mkdir()

    def sbin(name):
        return shutil.which(name) or osp.join('/usr/sbin', name)

    subprocess.run(
        [sbin('mungekey'), '--create', '--keyfile',
         str(root / 'munge.key')],
        check=True)
    subprocess.run([
        sbin('munged'), '--force', f'--socket={root}/munge.socket',
        f'--key-file={root}/munge.key', f'--pid-file={root}/munged.pid',
        f'--log-file={root}/munged.log', f'--seed-file={root}/munge.seed'
    ],
                   check=True)
    host = socket.gethostname().split('.')[0]
    (root / 'slurm.conf').write_text(
        SLURM_CONF.format(
            host=host,
            root=root,
            ctld_port=free_port(),
            slurmd_port=free_port(),
            cpus=os.cpu_count()))
    (root / 'gres.conf').write_text(GRES_CONF.format(host=host))
    env = dict(os.environ, SLURM_CONF=str(root / 'slurm.conf'))
    try:
        subprocess.run([sbin('slurmctld')], env=env, check=True)
        subprocess.run([sbin('slurmd')], env=env, check=True)
        deadline = time.time() + 60
        state = ''
        while time.time() < deadline:
            state = subprocess.run(['sinfo', '-h', '-o', '%t'],
                                   env=env,
                                   capture_output=True,
                                   text=True).stdout
            if state.strip() == 'idle':
                break
            time.sleep(1)
        else:
            pytest.fail(f'Slurm test: the node is {state.strip()!r}, not '
                        f'idle; see {root}/slurmctld.log and slurmd.log')
        yield dict(env=env, root=root)
    finally:
        subprocess.run(['scancel', '--partition=debug'],
                       env=env,
                       capture_output=True)
        for daemon in ('slurmd', 'slurmctld', 'munged'):
            _stop(str(root / f'{daemon}.pid'))


@pytest.mark.slow
def test_slurm_train_two_tasks_to_the_end(setup, slurm):
    work = setup['root'] / 'SLURM'
    env = dict(setup['env'], **slurm['env'])
    env.update(
        GPUS='2',
        GPUS_PER_NODE='2',
        CPUS_PER_TASK='1',
        PYTHON=sys.executable,
        MASTER_PORT=str(free_port()),
        OMP_NUM_THREADS='1',
        PYTHONPATH=setup['env']['PYTHONPATH'])
    proc = run([
        'bash',
        osp.join(REPO, 'tools', 'slurm_train.sh'), 'debug', 'mmprompt-test',
        setup['cfg'],
        str(work)
    ],
               env,
               timeout=600)
    log = proc.stdout + proc.stderr
    assert 'srun -p debug --job-name=mmprompt-test --gres=gpu:2' in log
    assert (work / 'epoch_2.pth').exists()
    ranks = [load(work / f'prompts_after_train_rank{r}.pth') for r in (0, 1)]
    assert [r['world_size'] for r in ranks] == [2, 2]
    assert ranks[0]['backend'] == 'gloo'
    before = load(work / 'prompts_before_train_rank0.pth')['prompts']
    for name, value in ranks[0]['prompts'].items():
        # both tasks hold the same, trained prompts
        assert ranks[1]['prompts'][name].equal(value), name
        assert not before[name].equal(value), f'{name} did not train'

"""Hostile jobs against the isolated pool, one property per test.

A task folder's private/answers.csv holds a random secret. Every test checks that the job
fails or is contained, that the secret never shows in its output or its files, and that
the pool still runs a normal job afterwards. `test_control_plain_fork_can_read_the_secret`
shows the oracle works: without namespaces the same read succeeds.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import SECRET, write_secret_task
from sandmle.sandbox import Job, Limits, Pool, isolate

pytestmark = pytest.mark.skipif(isolate.unavailable_reason() is not None,
                                reason=f"no namespaces: {isolate.unavailable_reason()}")

MARK = "'sandmle-' + 'secret-'"        # how job code spells the secret's prefix


@pytest.fixture(scope="module")
def pool():
    with Pool(num_workers=2, preload=("numpy",)) as p:
        if p.isolation != "namespaces":    # never run hostile code unisolated
            pytest.fail(f"namespaces are available but the pool fell back: {p.fallback_reason}")
        yield p


@pytest.fixture
def task(tmp_path):
    return write_secret_task(tmp_path / "task")


def _no_follow(path, flags):
    return os.open(path, flags | os.O_NOFOLLOW)


def _files(top):
    """Regular files under `top` but input/, without recursion (jobs nest folders deeply)."""
    pending = [str(top)]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:                          # past PATH_MAX
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "input" or folder != str(top):
                    pending.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry.path


def run(pool, task, code, **limits):
    work = task.parent / "work"
    limits.setdefault("timeout_s", 20.0)
    job = Job(work_dir=str(work), public_dir=str(task / "public"), code=code,
              limits=Limits(**limits))
    result = pool.run(job)
    assert SECRET not in result.stdout_tail and SECRET not in result.stderr_tail
    for path in _files(work):
        try:
            with open(path, "rb", opener=_no_follow) as fh:
                data = fh.read()
        except OSError:                          # symlinks, names past PATH_MAX
            continue
        assert SECRET.encode() not in data, path
    healthy = pool.run(Job(work_dir=str(task.parent / "healthy"), code="print('ok')"))
    assert healthy.ok and healthy.stdout_tail == "ok\n", healthy
    return result


def answers(task) -> str:
    return str(task / "private" / "answers.csv")


TRY = """
def attempt(label, fn):
    try:
        print(label, repr(fn())[:300])
    except BaseException as exc:
        print(label, "blocked", type(exc).__name__)
"""


def test_absolute_path(pool, task):
    result = run(pool, task, TRY + f"attempt('abs', lambda: open({answers(task)!r}).read())")
    assert "abs blocked" in result.stdout_tail


def test_dotdot_paths(pool, task):
    code = TRY + """
for p in ['input/../private/answers.csv', 'input/../../private/answers.csv',
          '../private/answers.csv', '../../task/private/answers.csv',
          '/sandbox/work/input/../../private/answers.csv']:
    attempt(p, lambda: open(p).read())
"""
    result = run(pool, task, code)
    assert result.stdout_tail.count("blocked") == 5


def test_symlink(pool, task):
    code = TRY + f"""
import os
os.symlink({answers(task)!r}, 'link_abs')
os.symlink('input/../private/answers.csv', 'link_rel')
attempt('abs', lambda: open('link_abs').read())
attempt('rel', lambda: open('link_rel').read())
"""
    result = run(pool, task, code)
    assert result.stdout_tail.count("blocked") == 2


def test_proc(pool, task):
    host_pids = [str(p) for p in pool.worker_pids() + [os.getpid(), os.getppid()]]
    code = TRY + f"""
import os
target = {answers(task)!r}
for pid in [p for p in os.listdir('/proc') if p.isdigit()] + ['self', 'thread-self'] + {host_pids!r}:
    base = '/proc/' + pid
    attempt(pid + ' root', lambda: open(base + '/root' + target).read())
    attempt(pid + ' cwd', lambda: open(base + '/cwd/../private/answers.csv').read())
    attempt(pid + ' environ', lambda: open(base + '/environ').read())
    attempt(pid + ' mountinfo', lambda: open(base + '/mountinfo').read())
    fds = base + '/fd'
    for fd in (os.listdir(fds) if os.path.isdir(fds) else []):
        attempt(pid + ' fd' + fd, lambda: os.readlink(fds + '/' + fd))
print(sorted(p for p in os.listdir('/proc') if p.isdigit()))
"""
    result = run(pool, task, code, output_bytes=1 << 20)
    assert "1 root blocked" in result.stdout_tail
    assert result.stdout_tail.strip().endswith("['1']")     # alone in its PID namespace


def test_walk_file_system(pool, task):
    """Everything outside the read-only system and Python trees is read and searched."""
    code = f"""
import os, sys
mark = {MARK}
skip = ('/usr', '/proc', os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix))
found, seen = [], 0
for root, dirs, files in os.walk('/'):
    dirs[:] = [d for d in dirs if not os.path.join(root, d).startswith(skip)]
    for name in files:
        seen += 1
        path = os.path.join(root, name)
        try:
            with open(path, 'rb') as fh:
                data = fh.read(1 << 20)
        except OSError:
            continue
        if mark.encode() in data and path != '/sandbox/work/main.py':
            found.append(path)
print('top', sorted(os.listdir('/')))
print('seen', seen, 'found', found)
"""
    result = run(pool, task, code, timeout_s=60.0)
    assert result.ok, result.stderr_tail
    assert "found []" in result.stdout_tail
    top = result.stdout_tail.split("\n")[0]
    assert "'private'" not in top and "'tmp'" in top and "'sandbox'" in top


def test_user_namespace(pool, task):
    code = TRY + f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
uid, gid = os.getuid(), os.getgid()
ret = libc.unshare(0x10000000 | 0x00020000)        # CLONE_NEWUSER | CLONE_NEWNS
print('unshare', ret, ctypes.get_errno())
if ret == 0:
    attempt('setgroups', lambda: open('/proc/self/setgroups', 'w').write('deny'))
    attempt('uid_map', lambda: open('/proc/self/uid_map', 'w').write(f'0 {{uid}} 1'))
    attempt('gid_map', lambda: open('/proc/self/gid_map', 'w').write(f'0 {{gid}} 1'))
    print('uid now', os.getuid())
    print('umount input', libc.umount2(b'/sandbox/work/input', 2), ctypes.get_errno())
    print('umount root', libc.umount2(b'/', 2), ctypes.get_errno())
    print('mount tmpfs', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), ctypes.get_errno())
    attempt('abs', lambda: open({answers(task)!r}).read())
    attempt('dotdot', lambda: open('input/../private/answers.csv').read())
    attempt('listing', lambda: os.listdir('/sandbox/work/input'))
import shutil, subprocess
tool = shutil.which('unshare')
if tool:
    proc = subprocess.run([tool, '-U', '-r', '-m', 'cat', {answers(task)!r}], capture_output=True, text=True)
    print('tool', proc.returncode, proc.stdout[:200], proc.stderr[:200])
"""
    result = run(pool, task, code)
    assert "abs blocked" in result.stdout_tail
    assert "dotdot blocked" in result.stdout_tail


def test_loopback_service(pool, task):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.sendall(SECRET.encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        code = TRY + f"""
import socket
attempt('tcp', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2).recv(100))
attempt('tcp6', lambda: socket.create_connection(('::1', {port}), timeout=2).recv(100))
attempt('dns', lambda: socket.getaddrinfo('example.com', 80))
"""
        result = run(pool, task, code)
    finally:
        stop.set()
        thread.join(2)
        server.close()
    assert result.stdout_tail.count("blocked") == 3
    assert accepted == []


def test_fork_bomb(pool, task):
    code = """
import os
n = 0
while True:
    try:
        if os.fork() == 0:
            continue
        n += 1
    except OSError:
        pass
"""
    result = run(pool, task, code, timeout_s=3.0, processes=16)
    assert not result.ok and result.timed_out
    assert result.wall_s < 15


def test_memory_bomb(pool, task):
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))\n"
    result = run(pool, task, code, memory_mb=256)
    assert result.memory_exceeded and not result.ok
    assert "MemoryError" in result.stderr_tail


def test_infinite_loop(pool, task):
    result = run(pool, task, "while True:\n    pass\n", timeout_s=1.0)
    assert result.timed_out and result.exit_code is None and result.signal == 9
    assert result.wall_s < 10


def test_cpu_spin_in_many_threads(pool, task):
    code = """
import threading
def spin():
    while True:
        pass
for _ in range(8):
    threading.Thread(target=spin).start()
"""
    result = run(pool, task, code, timeout_s=2.0)
    assert not result.ok and (result.timed_out or result.signal is not None)
    assert result.wall_s < 10


def test_huge_file(pool, task):
    code = TRY + """
def write():
    with open('big.bin', 'wb') as fh:
        for _ in range(64):
            fh.write(b'x' * (1 << 20))
attempt('write', write)
"""
    result = run(pool, task, code, file_size_mb=4)
    assert "write blocked OSError" in result.stdout_tail
    assert (task.parent / "work" / "big.bin").stat().st_size <= 4 * 1024 * 1024


def test_write_outside_work_folder(pool, task):
    token = uuid.uuid4().hex
    public = task / "public"
    targets = ["input/new.txt", "/sandbox/work/input/train.csv", "/etc/evil", "/usr/evil",
               "/evil", "/sandbox/evil", str(public / "new.txt"), str(task / "evil"),
               f"/tmp/{token}"]
    code = TRY + f"""
for path in {targets!r}:
    attempt(path, lambda: open(path, 'a').write('pwned'))
"""
    result = run(pool, task, code)
    assert result.stdout_tail.count("blocked") == len(targets) - 1   # the private /tmp works
    assert not (public / "new.txt").exists() and not (task / "evil").exists()
    assert (public / "train.csv").read_text() == "id,x\n1,2\n"
    assert not Path(f"/tmp/{token}").exists()


def test_signal_parent_and_other_jobs(pool, task):
    survivor = {}

    def sleeper():
        survivor["r"] = pool.run(Job(work_dir=str(task.parent / "other"),
                                     code="import time\ntime.sleep(3)\nprint('survived')",
                                     limits=Limits(timeout_s=30.0)))

    thread = threading.Thread(target=sleeper)
    thread.start()
    time.sleep(1.0)
    targets = pool.worker_pids() + [os.getpid()]
    code = TRY + f"""
import os, signal
attempt('pool', lambda: [os.kill(p, signal.SIGKILL) for p in {targets!r}])
attempt('all', lambda: os.kill(-1, signal.SIGKILL))
for pid in range(2, 400):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
print('ppid', os.getppid())
attempt('parent', lambda: os.kill(os.getppid(), signal.SIGKILL))
"""
    result = run(pool, task, code)
    thread.join(30)
    assert "pool blocked ProcessLookupError" in result.stdout_tail
    assert survivor["r"].ok and survivor["r"].stdout_tail == "survived\n"
    assert all(os.path.exists(f"/proc/{pid}") for pid in pool.worker_pids())


def test_daemon_does_not_outlive_job(pool, task):
    code = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1.5)
        open('late.txt', 'w').write('still alive')
    os._exit(0)
os.wait()
print('parent done')
"""
    result = run(pool, task, code)
    assert result.ok and result.stdout_tail == "parent done\n"
    time.sleep(2.5)
    assert not (task.parent / "work" / "late.txt").exists()


def test_stdin_is_empty(pool, task):
    result = run(pool, task, "import sys\nprint(repr(sys.stdin.read()))\n", timeout_s=5.0)
    assert result.ok and result.stdout_tail == "''\n"


def test_print_gigabytes(pool, task):
    code = "import sys\nchunk = 'x' * (1 << 20)\nwhile True:\n    sys.stdout.write(chunk)\n"
    result = run(pool, task, code, timeout_s=2.0, output_bytes=4096)
    assert result.timed_out and result.output_truncated
    assert len(result.stdout_tail) == 4096


def test_no_privileges(pool, task):
    code = """
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
print(status['Uid'].split()[0], status['CapEff'].strip(), status['NoNewPrivs'].strip())
"""
    result = run(pool, task, code)
    uid, caps, no_new_privs = result.stdout_tail.split()
    assert int(uid) >= 100_000 and int(caps, 16) == 0 and no_new_privs == "1"


def test_control_plain_fork_can_read_the_secret(task):
    """Without namespaces the same read succeeds: the oracle above can fail."""
    with Pool(num_workers=1, preload=(), isolate=False) as plain:
        result = plain.run(Job(work_dir=str(task.parent / "plain"), code=f"print(open({answers(task)!r}).read())"))
    assert SECRET in result.stdout_tail and result.isolation == "rlimits"


def test_deep_directory_tree(pool, task):
    """A tree nested past PATH_MAX on the host: the job's result still comes back as data."""
    code = """
import os
for _ in range(300):
    os.mkdir('d' * 60)
    os.chdir('d' * 60)
open('leaf.txt', 'w').write('x')
print('deep')
"""
    result = run(pool, task, code)
    assert result.ok and result.stdout_tail == "deep\n"


# -- per-job accounting: the whole tree, tmpfs and memfd pages included -------------------
def test_memory_of_many_processes_is_capped_per_job(pool, task):
    """Four processes of 60 MB each under a 128 MB job limit: the job, not each process, is capped."""
    code = """
import os, time
kids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(60 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(5)
        os._exit(0)
    kids.append(pid)
codes = [os.waitpid(k, 0)[1] for k in kids]
print('statuses', codes)
"""
    result = run(pool, task, code, memory_mb=128)
    assert result.memory_exceeded and not result.ok
    assert result.memory_peak_mb is None or result.memory_peak_mb <= 140


def test_memfd_pages_count_against_the_job(pool, task):
    code = """
import os
fds = []
for i in range(8):
    fd = os.memfd_create(f'm{i}')
    for _ in range(32):
        os.write(fd, b'x' * (1024 * 1024))
    fds.append(fd)
print('held', len(fds) * 32, 'MB')
"""
    result = run(pool, task, code, memory_mb=96)
    assert result.memory_exceeded and "held 256 MB" not in result.stdout_tail


def test_shared_memory_files_count_against_the_job(pool, task):
    code = """
with open('/dev/shm/fill', 'wb') as fh:
    for _ in range(200):
        fh.write(b'x' * (1024 * 1024))
print('wrote 200 MB')
"""
    result = run(pool, task, code, memory_mb=96, file_size_mb=256)
    assert result.memory_exceeded and "wrote 200 MB" not in result.stdout_tail


def test_process_limit_covers_the_whole_tree(pool, task):
    code = """
import os, time
started = 0
for _ in range(30):
    try:
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        started += 1
    except OSError:
        break
print('started', started)
"""
    result = run(pool, task, code, processes=8)
    started = int(result.stdout_tail.split()[-1])
    assert started < 8
    if result.accounting.startswith("cgroup"):
        assert result.processes_exceeded


def test_cpu_time_counts_the_whole_tree(pool, task):
    code = """
import os, time
def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        spin(0.6)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.waitpid(k, 0)
"""
    result = run(pool, task, code)
    assert result.ok and result.cpu_s >= 1.0


# -- nothing survives a job ---------------------------------------------------------------
KEYS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {'x86_64': (248, 250), 'aarch64': (217, 219)}[os.uname().machine]
def add_key(description, payload):
    r = libc.syscall(NR[0], b'user', description, payload, len(payload), ctypes.c_long(-4))  # @u
    return r, ctypes.get_errno()
def search(description):
    r = libc.syscall(NR[1], 10, ctypes.c_long(-4), b'user', description, 0)   # KEYCTL_SEARCH
    return r, ctypes.get_errno()
"""


@pytest.fixture
def one_worker():
    with Pool(num_workers=1, preload=("numpy",)) as p:
        if p.isolation != "namespaces":
            pytest.fail(f"namespaces are available but the pool fell back: {p.fallback_reason}")
        yield p


def test_key_added_by_one_job_is_not_seen_by_the_next(one_worker, task):
    first = run(one_worker, task, KEYS + "print('add', add_key(b'sandmle-probe', b'left for later'))")
    second = run(one_worker, task, KEYS + "print('search', search(b'sandmle-probe'))")
    assert first.stdout_tail.startswith("add (-1,")
    assert second.stdout_tail.startswith("search (-1,")


def test_pool_starters_session_keyring_is_not_readable(one_worker, task):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    numbers = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(os.uname().machine)
    if numbers is None:
        pytest.skip("key syscall numbers unknown here")
    payload = SECRET.encode()
    key = libc.syscall(numbers[0], b"user", b"sandmle-host-key", payload, len(payload),
                       ctypes.c_long(-3))                               # the session keyring
    if key < 0:
        pytest.skip(f"no kernel keys here (errno {ctypes.get_errno()})")
    try:
        code = KEYS + """
print('keys', open('/proc/keys').read().count('sandmle-host-key'))
r = libc.syscall(NR[1], 10, ctypes.c_long(-3), b'user', b'sandmle-host-key', 0)
print('search', r, ctypes.get_errno())
"""
        result = run(one_worker, task, code)
    finally:
        libc.syscall(numbers[1], 3, ctypes.c_long(key))                   # KEYCTL_REVOKE
    assert "keys 0" in result.stdout_tail and "search -1" in result.stdout_tail


def test_job_memory_holds_nothing_of_the_previous_job(one_worker, task):
    marker = "sandmle-earlier-" + uuid.uuid4().hex
    half = len(marker) // 2
    earlier = one_worker.run(Job(work_dir=str(task.parent / "earlier"), code=f"print({marker!r})",
                                 env={"EARLIER": marker}, limits=Limits(timeout_s=20.0)))
    assert earlier.stdout_tail == marker + "\n"
    code = f"""
import ctypes
marker = ({marker[:half]!r} + {marker[half:]!r}).encode()
found = 0
for line in open('/proc/self/maps').read().splitlines():
    fields = line.split()
    start, end = (int(x, 16) for x in fields[0].split('-'))
    name = fields[5] if len(fields) > 5 else ''
    if not fields[1].startswith('r') or name not in ('', '[heap]', '[stack]'):
        continue
    found += ctypes.string_at(start, end - start).count(marker)
print('copies', found)
"""
    result = run(one_worker, task, code, timeout_s=60.0)
    # The scanning job holds the marker it built (a few copies); an earlier job's code,
    # environment and output would add more.
    assert result.ok, result.stderr_tail
    assert int(result.stdout_tail.split()[-1]) <= 2


def test_tmp_and_shm_are_private_to_each_job(pool, task):
    run(pool, task, "open('/tmp/left', 'w').write('x')\nopen('/dev/shm/left', 'w').write('x')")
    result = run(pool, task, "import os\nprint(os.listdir('/tmp'), os.listdir('/dev/shm'))")
    assert "left" not in result.stdout_tail


# -- host code that job output cannot crash -----------------------------------------------
def test_tree_of_3000_levels_is_removed_by_the_host(pool, task):
    from sandmle.sandbox.workdir import remove_tree

    code = """
import os
for _ in range(3000):
    os.mkdir('d')
    os.chdir('d')
open('leaf.txt', 'w').write('x')
print('deep')
"""
    result = run(pool, task, code, timeout_s=60.0)
    assert result.ok and result.stdout_tail == "deep\n"
    remove_tree(task.parent / "work")
    assert not (task.parent / "work").exists()


def test_undecodable_long_names_give_a_small_escaped_reply(pool, task):
    code = """
import os
for i in range(3000):
    name = b'\\xff\\xfe' + str(i).encode() + b'\\x1b[31m' + b'\\xe9' * 200
    open(name, 'wb').close()
print('made')
"""
    result = run(pool, task, code, timeout_s=60.0)
    assert result.ok and result.stdout_tail == "made\n"
    reply = json.dumps(result.to_json())
    assert len(reply) < 1024 * 1024
    assert "\x1b" not in reply and "\\udc" not in reply
    assert result.files_written and result.files_written[0].startswith("\\xff\\xfe")


def test_many_files_over_the_work_folder_cap_are_removed(pool, task):
    code = "for i in range(1000):\n    open(f'f{i}', 'w').close()\n"
    result = run(pool, task, code, work_files=100)
    assert result.work_exceeded and not result.ok
    assert "work folder" in result.stderr_tail
    left = [n for n in os.listdir(task.parent / "work") if n.startswith("f")]
    assert left == []


def test_bytes_over_the_work_folder_cap_are_removed(pool, task):
    code = "open('big.bin', 'wb').write(b'x' * (3 * 1024 * 1024))\n"
    result = run(pool, task, code, work_mb=1)
    assert result.work_exceeded
    assert not (task.parent / "work" / "big.bin").exists()


def test_watchdog_caps_memory_without_a_cgroup(task):
    code = """
import os, time
kids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(60 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(5)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.waitpid(k, 0)
print('all held')
"""
    with Pool(num_workers=1, preload=(), cgroups=False) as watched:
        assert watched.accounting == "watchdog"
        result = watched.run(Job(work_dir=str(task.parent / "w"), code=code,
                                 limits=Limits(timeout_s=30.0, memory_mb=128)))
    assert result.memory_exceeded and result.accounting == "watchdog"
    assert "all held" not in result.stdout_tail

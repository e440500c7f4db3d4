"""A CUDA Multi-Process Service (MPS) daemon of the sweep's own, for reproduce.py --mps.

Without MPS, trainers in different processes take turns on the GPU: each process has its own
context, and the GPU switches between contexts instead of running their kernels side by side.
ResNet-32 at batch 128 leaves most of an H100 idle within each kernel, so two trainers sharing it
by turns gained only about a quarter over one (docs/REPRODUCTION.md). Under MPS the processes'
kernels go through one server and can run at the same time, as streams of one process do.

The daemon gets private pipe and log folders (a fresh temporary folder), so it neither finds nor
disturbs another MPS daemon on the machine, and it changes no setting of the GPU. Before any
trainer starts, a probe (this file run with --probe: the CUDA driver API through ctypes) creates
a context under the daemon. MPS is a speed-up only: when the control program is missing, the
daemon does not start or the probe fails, the sweep says why and runs without it.

The trainers reach the daemon through CUDA_MPS_PIPE_DIRECTORY, set in this process's environment
while it runs. On leaving, the daemon is told to quit (which stops its server) and its logs are
copied beside the runs. A sweep killed with SIGKILL leaves it running: `echo quit |
CUDA_MPS_PIPE_DIRECTORY=<the folder named at start> nvidia-cuda-mps-control` stops it.

Environment: CBNN_MPS_CONTROL and CBNN_MPS_PROBE name other programs for the control program
and the probe (the tests' stand-ins).
"""
import contextlib
import ctypes
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONTROL = os.environ.get("CBNN_MPS_CONTROL", "nvidia-cuda-mps-control")
PROBE = os.environ.get("CBNN_MPS_PROBE", f"{shlex.quote(sys.executable)} "
                                         f"{shlex.quote(str(Path(__file__).resolve()))} --probe")


def _read(path):
    try:
        return Path(path).read_text(errors="replace").strip()
    except OSError:
        return ""


def _say(message):
    print(f"reproduce: {message}", flush=True)


@contextlib.contextmanager
def mps_daemon(keep_logs_in):
    """Starts the daemon and probes it; yields whether the trainers are to run under it (its
    variables then set in os.environ). On exit stops it and copies its logs into
    `keep_logs_in`/mps-logs."""
    control = shutil.which(CONTROL)
    if control is None:
        _say(f"--mps: {CONTROL} is not on PATH (it comes with the NVIDIA driver's utilities); "
             "running without MPS")
        yield False
        return
    root = Path(tempfile.mkdtemp(prefix="cbnn-mps-"))
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(root / "pipe"),
           "CUDA_MPS_LOG_DIRECTORY": str(root / "log")}
    for folder in env.values():
        Path(folder).mkdir()
    daemon_env = {**os.environ, **env}
    try:
        why_not = _start(control, daemon_env, root) or _probe(daemon_env)
    except BaseException:  # SIGTERM (`timeout`) or Ctrl-C while starting: no daemon left behind
        _stop(control, daemon_env, root, keep_logs_in)
        raise
    if why_not is not None:
        # A failed start may still have left a daemon (a timeout): `quit` is harmless otherwise.
        _stop(control, daemon_env, root, keep_logs_in)
        _say(f"--mps: {why_not}; running without MPS")
        yield False
        return
    _say(f"MPS daemon started (pipe folder {env['CUDA_MPS_PIPE_DIRECTORY']})")
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield True
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        logs = _stop(control, daemon_env, root, keep_logs_in)
        _say(f"MPS daemon stopped (its logs: {logs})")


def _start(control, env, root):
    """Starts the control daemon; None, or why it did not start."""
    try:
        started = subprocess.run([control, "-d"], env=env, capture_output=True, text=True,
                                 timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"'{CONTROL} -d' did not run: {e}"
    if started.returncode == 0:
        return None
    why = started.stderr.strip() or _read(root / "log" / "control.log") or "no message"
    return f"'{CONTROL} -d' failed with exit status {started.returncode}: {why}"


def _probe(env):
    """Runs the probe under the daemon; None, or why a CUDA program could not start."""
    try:
        probe = subprocess.run(PROBE, shell=True, env=env, capture_output=True, text=True,
                               timeout=120)
    except subprocess.TimeoutExpired:
        return "a CUDA program did not start under the daemon within 120 s"
    if probe.returncode == 0:
        return None
    why = (probe.stdout + probe.stderr).strip() or f"exit status {probe.returncode}"
    return f"a CUDA program could not start under the daemon ({why})"


def _daemon_running(pipe):
    """Whether the daemon of pipe folder `pipe` still runs: its process, by the pid it writes
    into the folder, or without that file its control socket."""
    pid_file = pipe / "nvidia-cuda-mps-control.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), 0)
            return True
        except (OSError, ValueError):
            return False
    return (pipe / "control").exists()


def _stop(control, env, root, keep_logs_in):
    """Asks the daemon to quit and waits up to 10 s for it to go (its server with it, before the
    sweep reports and packs the runs; a sweep cut by `timeout` has little time left), keeps its
    logs, removes its folder. Returns where the logs went."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run([control], input="quit\n", env=env, capture_output=True, text=True,
                       timeout=10)
    deadline = time.monotonic() + 10
    while _daemon_running(root / "pipe") and time.monotonic() < deadline:
        time.sleep(0.2)
    logs = Path(keep_logs_in) / "mps-logs"
    with contextlib.suppress(OSError):
        shutil.copytree(root / "log", logs, dirs_exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    return logs


def probe():
    """Creates and releases a context on device 0 with the CUDA driver API, as a trainer's first
    CUDA call does (under MPS that connects to the server). Exit status 0, or 1 with the reason."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        print(f"no CUDA driver: {e}")
        return 1

    def failed(status, call):
        name = ctypes.c_char_p()
        cuda.cuGetErrorName(status, ctypes.byref(name))
        print(f"{call}: {(name.value or b'error %d' % status).decode()}")
        return 1

    device, context = ctypes.c_int(), ctypes.c_void_p()
    status = cuda.cuInit(0)
    if status != 0:
        return failed(status, "cuInit")
    status = cuda.cuDeviceGet(ctypes.byref(device), 0)
    if status != 0:
        return failed(status, "cuDeviceGet")
    status = cuda.cuDevicePrimaryCtxRetain(ctypes.byref(context), device)
    if status != 0:
        return failed(status, "cuDevicePrimaryCtxRetain")
    cuda.cuDevicePrimaryCtxRelease(device)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] in (["--help"], ["-h"]):
        print("usage: cuda_mps.py --probe  (starts a CUDA context, exit 0 when it can; the rest "
              "is reproduce.py --mps)\n" + __doc__)
        sys.exit(0)
    if sys.argv[1:] != ["--probe"]:
        sys.exit("usage: cuda_mps.py --probe  (the rest is reproduce.py --mps)")
    sys.exit(probe())

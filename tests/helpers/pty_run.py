#!/usr/bin/env python3
# Runs a command on a real pseudo-terminal, as a person at a terminal would: waits for each expected
# text (a regular expression) in what the command writes, then types the given keys. Prints one JSON
# object: {"code": exit status (128+N for signal N), "transcript": everything the terminal showed,
# "timedOut": bool}. Used by tests/cli/prompts.test.ts (the CLI's prompts cannot be tested with a pipe).
#
# Usage: pty_run.py '{"cmd": [...], "cwd": "...", "env": {...}, "steps": [{"expect": "...", "send": "..."}], "timeout": 30}'
import json, os, pty, re, select, signal, sys, time

spec = json.loads(sys.argv[1])
deadline = time.time() + float(spec.get("timeout", 30))
env = dict(os.environ)
env.update(spec.get("env", {}))
env.setdefault("TERM", "xterm")

pid, fd = pty.fork()
if pid == 0:
    if spec.get("cwd"):
        os.chdir(spec["cwd"])
    os.execvpe(spec["cmd"][0], spec["cmd"], env)

out = b""
timed_out = False


def read_some(wait):
    global out
    r, _, _ = select.select([fd], [], [], wait)
    if not r:
        return True
    try:
        data = os.read(fd, 4096)
    except OSError:
        return False
    if not data:
        return False
    out += data
    return True


pos = 0
alive = True
for step in spec.get("steps", []):
    pattern = re.compile(step["expect"].encode())
    while alive:
        m = pattern.search(out, pos)
        if m:
            pos = m.end()
            break
        if time.time() > deadline:
            timed_out = True
            break
        alive = read_some(0.1)
    if timed_out or not alive:
        break
    time.sleep(float(step.get("delay", 0.05)))
    os.write(fd, step["send"].encode())

status = None
while time.time() < deadline:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
        while alive and read_some(0.05):
            pass
        break
    if alive:
        alive = read_some(0.1)
    else:
        time.sleep(0.05)
if status is None:
    timed_out = True
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
print(json.dumps({"code": code, "transcript": out.decode("utf8", "replace"), "timedOut": timed_out}))

"""A tap between agentdeck and a coding agent, for benches/coding_screen.rs: runs the
agent (argv[1:]) with its stdin and stdout passed through line by line, and appends to
CODING_TAP_LOG each line's wall-clock time as it reaches the agent's stdin ("in") or
leaves its stdout ("out")."""
import os
import subprocess
import sys
import threading
import time

log = open(os.environ["CODING_TAP_LOG"], "a", buffering=1)
lock = threading.Lock()


def note(way, line):
    with lock:
        log.write(f"{way} {time.time():.6f} {line[:300].decode('utf-8', 'replace').strip()}\n")


agent = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)


def down():
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            break
        note("in", line)
        agent.stdin.write(line)
    agent.stdin.close()


threading.Thread(target=down, daemon=True).start()
while True:
    line = agent.stdout.readline()
    if not line:
        break
    note("out", line)
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
sys.exit(agent.wait())

"""Drives `pxsh kernel` with the real Jupyter client (jupyter_client's
KernelManager and BlockingKernelClient). Run by kernel_test.go with
JUPYTER_PATH naming a directory that holds the "pxsh" kernelspec.

Every wait is bounded; failures raise AssertionError with what was seen.
Prints "OK" and a few measured figures at the end.
"""
import os
import signal
import sys
import time

from jupyter_client.manager import KernelManager

SCALE = int(os.environ.get("PXSH_TEST_SCALE", "1") or "1")
T = 20 * SCALE  # seconds: bound of one request


def collect(kc, msg_id, until_idle=True, timeout=T, stop=None):
    """IOPub messages that are children of msg_id, until status idle (or
    until stop(msg) is true)."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "timed out waiting on iopub; saw %r" % out
        try:
            m = kc.get_iopub_msg(timeout=left)
        except Exception:
            continue
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        out.append(m)
        if stop is not None and stop(m):
            return out
        if until_idle and m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return out


def shell_reply(kc, msg_id, timeout=T):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "timed out waiting for the reply to %s" % msg_id
        m = kc.get_shell_msg(timeout=left)
        if m["parent_header"].get("msg_id") == msg_id:
            return m


def execute(kc, code, timeout=T):
    msg_id = kc.execute(code)
    msgs = collect(kc, msg_id, timeout=timeout)
    reply = shell_reply(kc, msg_id, timeout=timeout)
    return reply["content"], msgs


def stream(msgs, name="stdout"):
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == name)


def of_type(msgs, typ):
    return [m["content"] for m in msgs if m["msg_type"] == typ]


def check(cond, what, seen):
    if not cond:
        raise AssertionError("%s; saw %r" % (what, seen))


def main():
    km = KernelManager(kernel_name="pxsh")
    t0 = time.monotonic()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=T)
    print("ready after %.3f s" % (time.monotonic() - t0))
    try:
        session(km, kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    assert not km.is_alive(), "kernel still alive after shutdown"
    print("OK")


def bad_signature(kc):
    """A request signed with the wrong key gets no reply; the kernel keeps
    serving well-signed ones."""
    good = kc.session.key
    kc.session.key = b"not-the-key"
    try:
        msg_id = kc.kernel_info()
    finally:
        kc.session.key = good
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            m = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        except Exception:
            break
        check(m["parent_header"].get("msg_id") != msg_id, "no reply to a badly signed request", m)


def session(km, kc):
    bad_signature(kc)
    info = kc.kernel_info(reply=True, timeout=T)["content"]
    check(info["language_info"]["name"] == "starlark", "language starlark", info)
    check(info["protocol_version"] >= "5.3", "protocol 5.3+", info)

    # execute: stdout streams, the last expression is the execute_result
    c, msgs = execute(kc, "print('hello')\n1 + 2")
    check(c["status"] == "ok", "execute ok", c)
    check(stream(msgs) == "hello\n", "stdout stream", msgs)
    res = of_type(msgs, "execute_result")
    check(len(res) == 1 and res[0]["data"]["text/plain"] == "3", "execute_result 3", msgs)

    # %px output in ipyparallel's format
    c, msgs = execute(kc, "%px print('engine', engine.id)")
    check(c["status"] == "ok", "%px ok", c)
    out = stream(msgs)
    check("[stdout:0] engine 0" in out and "[stdout:1] engine 1" in out, "%px streams", msgs)
    c, msgs = execute(kc, "%%px --targets 0\nb = 20\nb + 1")
    check(c["status"] == "ok" and "Out[0:" in stream(msgs) and "21" in stream(msgs), "%%px Out[0:n]", msgs)

    # an error with the engine's traceback
    c, msgs = execute(kc, "def boom():\n    return 1 // 0\n\nrc[0].apply_sync(boom)")
    check(c["status"] == "error", "error status", c)
    err = of_type(msgs, "error")
    check(len(err) == 1 and err[0]["ename"] == "ZeroDivisionError", "error message ZeroDivisionError", msgs)
    tb = "\n".join(err[0]["traceback"])
    check("Traceback" in tb and "boom" in tb, "engine traceback", err)

    # a picture
    c, msgs = execute(kc, "display_svg('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"/>')\nImage(b'\\x89PNG', format='png')")
    dd = of_type(msgs, "display_data")
    check(c["status"] == "ok" and len(dd) == 1 and "image/svg+xml" in dd[0]["data"], "display_data svg", msgs)
    res = of_type(msgs, "execute_result")
    check(len(res) == 1 and res[0]["data"].get("image/png") == "iVBORw==", "execute_result png", msgs)

    # completion, inspection, is_complete
    rep = shell_reply(kc, kc.complete("x = rc.i", 8))["content"]
    check("ids" in rep["matches"] and rep["cursor_start"] == 7, "complete rc.i", rep)
    rep = shell_reply(kc, kc.complete("%px", 3))["content"]
    check("%pxresult" in rep["matches"], "complete magics", rep)
    rep = shell_reply(kc, kc.inspect("boom", 4))["content"]
    check(rep["found"] and "def boom()" in rep["data"]["text/plain"], "inspect boom", rep)
    for code, want in [("x = 1", "complete"), ("def f():", "incomplete"), ("x = [1,", "incomplete"), ("x = )", "invalid")]:
        rep = shell_reply(kc, kc.is_complete(code))["content"]
        check(rep["status"] == want, "is_complete %r" % code, rep)

    # the other magics
    c, msgs = execute(kc, "%autopx")
    check(c["status"] == "ok" and "%autopx enabled" in stream(msgs), "%autopx on", msgs)
    c, msgs = execute(kc, "auto = engine.id + 10\nauto")
    check(c["status"] == "ok" and "Out[1:" in stream(msgs) and " 11" in stream(msgs), "%autopx runs on engines", msgs)
    c, msgs = execute(kc, "%autopx")
    check(c["status"] == "ok" and "%autopx disabled" in stream(msgs), "%autopx off", msgs)
    c, msgs = execute(kc, "%%px --noblock -o later\nengine.id * 7")
    check(c["status"] == "ok" and "AsyncResult" in stream(msgs), "%%px --noblock", msgs)
    c, msgs = execute(kc, "%pxresult")
    check(c["status"] == "ok" and " 7" in stream(msgs), "%pxresult", msgs)
    c, msgs = execute(kc, "%pxconfig --verbose\n%px 1")
    check(c["status"] == "ok" and "Parallel execution on engine(s): all" in stream(msgs), "%pxconfig --verbose", msgs)
    execute(kc, "%pxconfig --no-verbose")

    # interrupt %px time.sleep(30) once its print and its progress bar
    # have arrived (output streams while the cell runs)
    msg_id = kc.execute("print('started')\n%px time.sleep(30)")
    seen = collect(kc, msg_id, until_idle=False,
                   stop=lambda m: m["msg_type"] == "stream" and "%px:" in m["content"]["text"])
    check("started" in stream(seen), "print streamed before the cell ended", seen)
    t = time.monotonic()
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id)
    took = time.monotonic() - t
    print("interrupt took %.3f s" % took)
    check(reply["content"]["status"] in ("error", "aborted"), "interrupted cell failed", reply["content"])
    check(reply["content"].get("ename", "KeyboardInterrupt") == "KeyboardInterrupt", "KeyboardInterrupt", reply["content"])
    check(took < 1.0 * SCALE, "interrupt within a second (took %.3f s)" % took, reply["content"])
    # the engines are free: a %px runs at once (not after the 30 s sleep)
    t = time.monotonic()
    c, msgs = execute(kc, "%px engine.id * 2", timeout=10 * SCALE)
    check(c["status"] == "ok" and "Out[1:" in stream(msgs), "engines free after interrupt", msgs)
    print("next %%px after interrupt took %.3f s" % (time.monotonic() - t))

    # SIGINT (interrupt_mode "signal") interrupts as well
    msg_id = kc.execute("%px time.sleep(30)")
    collect(kc, msg_id, until_idle=False,
            stop=lambda m: m["msg_type"] == "stream" and "%px:" in m["content"]["text"])
    km.signal_kernel(signal.SIGINT)
    reply = shell_reply(kc, msg_id, timeout=5 * SCALE)
    check(reply["content"].get("ename") == "KeyboardInterrupt", "SIGINT interrupts", reply["content"])
    c, msgs = execute(kc, "%px engine.id", timeout=10 * SCALE)
    check(c["status"] == "ok", "engines free after SIGINT", msgs)

    # the heartbeat echoes (the client pings every second)
    deadline = time.monotonic() + 5 * SCALE
    while not kc.hb_channel.is_beating():
        assert time.monotonic() < deadline, "heartbeat: no echo"
        time.sleep(0.05)

    # restart: a new kernel, a fresh namespace, a working cluster
    execute(kc, "marker = 1")
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=T)
    c, msgs = execute(kc, "marker")
    check(c["status"] == "error" and "marker" in c["evalue"], "fresh namespace", msgs)
    c, msgs = execute(kc, "%px engine.id")
    check(c["status"] == "ok" and "Out[0:" in stream(msgs), "%px after restart", msgs)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL:", e)
        sys.exit(1)

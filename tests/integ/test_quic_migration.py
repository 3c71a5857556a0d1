"""QUIC flows following a client that changes address (issue 17).

gtlsclient moves to a new local port right after the handshake while it
uploads (so it keeps sending: ngtcp2 drops what reaches its old socket).
With --nat-rebinding it keeps its connection IDs, as a client behind a
rebinding NAT does: halfpipe finds the flow by the server's connection ID
and moves it (migrated=1), the transfer completes.  Without it, the client
migrates on purpose, to a fresh connection ID the server gave it inside
encrypted frames: not followed.

Every test runs with `workers 1`: with more, the client's new address may
hash to another worker's socket (SO_REUSEPORT), whose index does not hold
the flow's IDs (docs/design.md, "Following a client's new address")."""

import hashlib
import json
import os

import netns
from netns import CLIENT_ADDR, PROXY_CADDR, SERVER_ADDR, T
from procs import poll_until
from test_quic import SIZE, client_hosts, pytestmark, start  # noqa: F401 (pytestmark: the skip)

UPLOAD = 1000 * 1000    # the request body: the client is still sending when it moves


def fetch_moving(topo, port, sni, *flags, timeout=10):
    """gtlsclient from the client namespace: POST UPLOAD bytes to /file and
    download it, moving to a new port 1 ms after the handshake, with flags.
    (sha256 of the file or None, the run, the server's first connection ID
    from the client's qlog, hex)."""
    client_hosts(topo)
    d = os.path.join(topo.tmp, "mv-%d" % len(os.listdir(topo.tmp)))
    os.mkdir(d)
    body, qlog = os.path.join(d, "body"), os.path.join(d, "client.qlog")
    with open(body, "wb") as f:
        f.write(os.urandom(UPLOAD))
    dl = os.path.join(d, "dl")
    os.mkdir(dl)
    argv = ["gtlsclient", "-q", "--exit-on-all-streams-close", "--download", dl,
            "--timeout", "%ds" % int(T(timeout)), "--handshake-timeout", "%ds" % int(T(5)),
            "--qlog-file", qlog, "-m", "POST", "--data", body,
            "--change-local-addr", "1ms"] + list(flags) + [
            sni, str(port), "https://%s/file" % sni]
    r = netns.run(argv, ns=topo.client, timeout=timeout + 10, check=False)
    got = None
    if os.path.exists(os.path.join(dl, "file")):
        with open(os.path.join(dl, "file"), "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
    return got, r, server_cid(qlog)


def server_cid(qlog):
    """The server's initial_source_connection_id (the Source CID of its
    Initial) in the client's qlog, hex, or None."""
    with open(qlog, errors="replace") as f:
        for rec in f.read().split("\x1e"):
            try:
                ev = json.loads(rec)
            except ValueError:
                continue
            data = ev.get("data") or {}
            if ev.get("name") == "transport:parameters_set" and data.get("owner") == "remote":
                return data.get("initial_source_connection_id")
    return None


def send_from_new_port(topo, port, cid):
    """One short-header datagram to connection ID cid (bytes), 1200 bytes,
    from a fresh client port: that port."""
    dgram = b"\x40" + cid + bytes(1199 - len(cid))
    code = ("import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            "s.bind(('%s',0));s.sendto(bytes.fromhex('%s'),('%s',%d));"
            "print(s.getsockname()[1])" % (CLIENT_ADDR, dgram.hex(), PROXY_CADDR, port))
    return int(netns.run(["python3", "-c", code], ns=topo.client).stdout.decode())


def quic_lines(hp):
    return [r for r in hp.log() if r.get("proto") == "quic"]


def test_quic_nat_rebinding_followed(topo, hp_bin, certs):
    """The client rebinds mid-upload keeping its connection IDs: one flow,
    migrated=1, the download checksummed.  While that flow lives, a datagram
    to an unknown connection ID from another port is a new flow, refused;
    one datagram to the flow's own ID from another port does not move it
    (two in a row are needed).  Once the flow ends its IDs are forgotten: a
    datagram to one is a new flow, refused."""
    hp, qport, (pa, sha_a), _ = start(topo, hp_bin, certs, "--workers", "1",
                                      "--quic-idle-timeout", "2s", "--quic-hello-timeout", "1s")
    got, r, cid = fetch_moving(topo, qport, "a.example.test", "--nat-rebinding")
    assert got == sha_a, (r.stderr.decode(errors="replace")[-2000:], hp.tail(), hp.log())
    assert cid, "no server connection ID in the client's qlog"
    cid = bytes.fromhex(cid)
    # the flow is still live (2 s idle): neither datagram takes it
    other = cid[:-1] + bytes([cid[-1] ^ 0xff])
    p_unknown = send_from_new_port(topo, qport, other)
    p_one = send_from_new_port(topo, qport, cid)
    assert not [x for x in quic_lines(hp) if x["sni"] == "a.example.test"], \
        "the flow ended before the datagrams came: the test cannot tell"
    rec = hp.wait_log(proto="quic", sni="a.example.test", timeout=10)[0]
    assert rec["term"] == "quic-idle-timeout" and rec["migrated"] == "1", rec
    assert rec["backend"] == "%s:%d" % (SERVER_ADDR, pa), rec
    assert rec["client"].startswith(CLIENT_ADDR + ":"), rec
    assert rec["client"] != "%s:%d" % (CLIENT_ADDR, p_one), rec
    assert int(rec["c2s_bytes"]) > UPLOAD and int(rec["s2c_bytes"]) > SIZE, rec
    refused = hp.wait_log(proto="quic", client="%s:%d" % (CLIENT_ADDR, p_unknown),
                          timeout=10)[0]
    assert refused["term"] == "quic-not-initial" and refused["backend"] == "-", refused
    assert not [x for x in quic_lines(hp) if x["client"] == "%s:%d" % (CLIENT_ADDR, p_one)]
    # ended: the index has forgotten the flow's IDs
    p_late = send_from_new_port(topo, qport, cid)
    late = hp.wait_log(proto="quic", client="%s:%d" % (CLIENT_ADDR, p_late), timeout=10)[0]
    assert late["term"] == "quic-not-initial" and late["migrated"] == "0", late
    assert len(quic_lines(hp)) == 3, quic_lines(hp)


def test_quic_active_migration_not_followed(topo, hp_bin, certs):
    """The client migrates on purpose (no --nat-rebinding): it switches to
    a connection ID the server issued in an encrypted NEW_CONNECTION_ID
    frame, which halfpipe cannot see.  Its new address is a new flow,
    refused (quic-not-initial); the first flow does not move and the
    transfer does not complete."""
    hp, qport, (_, sha_a), _ = start(topo, hp_bin, certs, "--workers", "1",
                                     "--quic-idle-timeout", "1s", "--quic-hello-timeout", "1s")
    got, r, _ = fetch_moving(topo, qport, "a.example.test", timeout=2)
    assert got != sha_a, "downloaded although the new path was refused"
    recs = poll_until(lambda: quic_lines(hp), 10, "two flow lines",
                      done=lambda v: len(v) >= 2)
    by_term = {x["term"]: x for x in recs}
    assert set(by_term) == {"quic-idle-timeout", "quic-not-initial"}, recs
    assert by_term["quic-idle-timeout"]["migrated"] == "0", recs
    assert int(by_term["quic-not-initial"]["dropped"]) >= 1, recs

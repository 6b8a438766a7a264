"""Requests that overlap in the controller (one waits for its body while another runs)."""
import json
import socket


def send_half(port: int, body: bytes) -> tuple[socket.socket, bytes]:
    """Open a connection and send a POST with only the first half of its body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (f"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    sock.sendall(head + body[:len(body) // 2])
    return sock, body[len(body) // 2:]


def finish(sock: socket.socket, rest: bytes) -> tuple[int, dict]:
    sock.sendall(rest)
    response = b""
    while chunk := sock.recv(65536):
        response += chunk
    sock.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def test_interleaved_requests_each_get_their_answer(controller, api):
    bodies = [json.dumps({"network": {"name": f"overlap-{i}"}}).encode() for i in range(3)]
    started = [send_half(controller.api_port, body) for body in bodies]
    # they finish in another order than they started
    answers = [finish(*started[i]) for i in (1, 0, 2)]
    assert [status for status, _ in answers] == [201, 201, 201]
    assert [body["network"]["name"] for _, body in answers] == \
        ["overlap-1", "overlap-0", "overlap-2"]
    names = {n["name"] for n in api.get("/v2.0/networks")[1]["networks"]}
    assert {"overlap-0", "overlap-1", "overlap-2"} <= names

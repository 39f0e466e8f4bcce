# Drives Debian's python3-matrix-nio (0.20, which speaks the /_matrix/client/r0 API) against a server:
# two users log in with their passwords, sync, alice creates a room and invites bob, bob joins,
# alice sends a message and bob receives it through /sync; bob redacts nothing, sends a reply that
# alice receives. Prints one JSON line with what happened; exits non-zero on the first failure.
#   usage: python3 matrix-nio.py URL ALICE_ID BOB_ID PASSWORD
import asyncio
import json
import sys

from nio import (AsyncClient, JoinResponse, LoginResponse, RoomCreateResponse, RoomMessageText,
                 RoomSendResponse, SyncResponse)


def need(cond, what, resp):
    if not cond:
        print(json.dumps({"failed": what, "response": repr(resp)[:500]}))
        sys.exit(1)


async def receive(client, room_id, body):
    for _ in range(20):
        resp = await client.sync(timeout=1000, since=client.next_batch)
        need(isinstance(resp, SyncResponse), "sync", resp)
        room = resp.rooms.join.get(room_id)
        if room:
            for ev in room.timeline.events:
                if isinstance(ev, RoomMessageText) and ev.body == body:
                    return ev
    need(False, f"receive {body!r}", None)


async def main(url, alice_id, bob_id, password):
    alice = AsyncClient(url, alice_id)
    bob = AsyncClient(url, bob_id)
    try:
        for c in (alice, bob):
            resp = await c.login(password, device_name="nio")
            need(isinstance(resp, LoginResponse), "login", resp)
            resp = await c.sync(timeout=0, full_state=True)
            need(isinstance(resp, SyncResponse), "initial sync", resp)

        resp = await alice.room_create(name="nio room", invite=[bob_id])
        need(isinstance(resp, RoomCreateResponse), "room_create", resp)
        room_id = resp.room_id

        for _ in range(20):
            resp = await bob.sync(timeout=1000, since=bob.next_batch)
            need(isinstance(resp, SyncResponse), "sync for the invite", resp)
            if room_id in bob.invited_rooms:
                break
        need(room_id in bob.invited_rooms, "invite seen by bob", bob.invited_rooms)
        resp = await bob.join(room_id)
        need(isinstance(resp, JoinResponse), "join", resp)

        await alice.sync(timeout=0, since=alice.next_batch)
        resp = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hello from nio"})
        need(isinstance(resp, RoomSendResponse), "room_send", resp)
        got = await receive(bob, room_id, "hello from nio")
        need(got.sender == alice_id and got.event_id == resp.event_id, "bob got alice's event", got)

        resp = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hi alice"})
        need(isinstance(resp, RoomSendResponse), "room_send (bob)", resp)
        got = await receive(alice, room_id, "hi alice")
        need(got.sender == bob_id, "alice got bob's event", got)

        print(json.dumps({"ok": True, "room_id": room_id, "members": sorted(alice.rooms[room_id].users)}))
    finally:
        await alice.close()
        await bob.close()


asyncio.run(main(*sys.argv[1:5]))

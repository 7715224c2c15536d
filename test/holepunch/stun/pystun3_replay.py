"""Replays, byte for byte, the RFC 3489 NAT-type tests of pystun3 2.0.0 (the STUN library the
original worker pins) against one server, and prints what the original worker would get.

The requests are built as that library builds them: '0001', a length written with "%#04d" of
half the hex length, 32 random hex digits of transaction id (no magic cookie), and for tests II
and III a CHANGE-REQUEST (0003, length 0004, flags 00000006 or 00000002). Like the library, a
datagram that is not a Binding success response with the same transaction id is read past and
the request sent again; unlike it, that loop is bounded here (the library's is not: a server that
answers with an error keeps it sending forever), and the count is printed.

usage: pystun3_replay.py HOST PORT   prints one JSON line
"""
import binascii
import json
import random
import socket
import sys

MAX_ROUNDS = 20          # the library loops without end; the replay says when it would have


def request_bytes(attribute_hex):
    tid = ''.join(random.choice('0123456789ABCDEF') for _ in range(32))
    length = "%#04d" % (len(attribute_hex) / 2)
    return tid, binascii.a2b_hex('0001' + length + tid + attribute_hex)


def ipv4_attr(buf, base):
    port = int.from_bytes(buf[base + 6:base + 8], 'big')
    return '.'.join(str(b) for b in buf[base + 8:base + 12]), port


def one_test(sock, host, port, attribute_hex, log):
    out = {'Resp': False, 'ExternalIP': None, 'ExternalPort': None, 'ChangedIP': None, 'ChangedPort': None}
    tid, data = request_bytes(attribute_hex)
    for _ in range(MAX_ROUNDS):
        received = None
        for _try in range(4):                         # the first send and 3 more, 2 s apart (settimeout(2))
            sock.sendto(data, (host, port))
            log['sent'] += 1
            try:
                received = sock.recvfrom(2048)
                break
            except socket.timeout:
                continue
        if received is None:
            return out
        buf, addr = received
        if buf[0:2] == b'\x01\x01' and binascii.b2a_hex(buf[4:20]).decode().upper() == tid:
            out['Resp'] = True
            out['From'] = list(addr)
            remain, base = int.from_bytes(buf[2:4], 'big'), 20
            while remain:
                kind = binascii.b2a_hex(buf[base:base + 2]).decode()
                alen = int.from_bytes(buf[base + 2:base + 4], 'big')
                if kind == '0001':
                    out['ExternalIP'], out['ExternalPort'] = ipv4_attr(buf, base)
                if kind == '0005':
                    out['ChangedIP'], out['ChangedPort'] = ipv4_attr(buf, base)
                base += 4 + alen
                remain -= 4 + alen
            return out
        log['ignored'] += 1                           # an error response: the library sends again
    log['endless'] = True
    return out


def main(host, port):
    log = {'sent': 0, 'ignored': 0, 'endless': False, 'tests': []}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.bind(('0.0.0.0', 0))
    source_ip = '0.0.0.0'
    r = one_test(sock, host, port, '', log)
    log['tests'].append(['I', r])
    nat_type, last = 'Blocked', r
    if r['Resp']:
        ex = (r['ExternalIP'], r['ExternalPort'])
        changed = (r['ChangedIP'], r['ChangedPort'])
        if r['ExternalIP'] == source_ip:
            last = one_test(sock, host, port, '00030004' + '00000006', log)
            nat_type = 'Open Internet' if last['Resp'] else 'Symmetric UDP Firewall'
        else:
            last = one_test(sock, host, port, '00030004' + '00000006', log)
            log['tests'].append(['II', last])
            if last['Resp']:
                nat_type = 'Full Cone'
            elif changed[0] is None:
                nat_type = 'crash: sendto((None, None)) in the library'
            else:
                last = one_test(sock, changed[0], changed[1], '', log)
                log['tests'].append(['I-changed', last])
                if not last['Resp']:
                    nat_type = 'Meet an error, when do Test1 on Changed IP and Port'
                elif (last['ExternalIP'], last['ExternalPort']) == ex:
                    last = one_test(sock, changed[0], changed[1], '00030004' + '00000002', log)
                    log['tests'].append(['III', last])
                    nat_type = 'Restric NAT' if last['Resp'] else 'Restric Port NAT'
                else:
                    nat_type = 'Symmetric NAT'
    log.update(nat_type=nat_type, external_ip=last['ExternalIP'], external_port=last['ExternalPort'],
               local_port=sock.getsockname()[1])
    print(json.dumps(log))


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]))

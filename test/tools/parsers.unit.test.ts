import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  gradeHeaders,
  hostOf,
  identifyHash,
  parseNmapXml,
  parseSslscanXml,
  passwordStrength,
  TargetRefusedError,
  targetChecker,
} from '../../src/tools/index.ts';

const nmapXml = `<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -sT -Pn -oX - 127.0.0.1">
<host starttime="1" endtime="2"><status state="up" reason="user-set" reason_ttl="0"/>
<address addr="127.0.0.1" addrtype="ipv4"/>
<hostnames><hostname name="localhost" type="PTR"/></hostnames>
<ports><extraports state="closed" count="998"/>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="0"/><service name="ssh" product="OpenSSH" version="9.2p1" method="probed" conf="10"/></port>
<port protocol="tcp" portid="8080"><state state="filtered" reason="no-response" reason_ttl="0"/><service name="http-proxy" method="table" conf="3"/></port>
</ports></host>
<runstats><finished time="2" timestr="x" summary="x &amp; y" elapsed="0.07" exit="success"/></runstats>
</nmaprun>`;

describe('nmap XML', () => {
  it('becomes hosts with their ports, states and services', () => {
    const result = parseNmapXml(nmapXml);
    expect(result.open).toEqual([22]);
    expect(result.elapsedSeconds).toBe(0.07);
    expect(result.hosts).toEqual([
      {
        address: '127.0.0.1',
        hostnames: ['localhost'],
        status: 'up',
        ports: [
          {
            protocol: 'tcp',
            port: 22,
            state: 'open',
            reason: 'syn-ack',
            service: 'ssh',
            product: 'OpenSSH',
            version: '9.2p1',
          },
          {
            protocol: 'tcp',
            port: 8080,
            state: 'filtered',
            reason: 'no-response',
            service: 'http-proxy',
            product: null,
            version: null,
          },
        ],
      },
    ]);
  });

  it('never throws on arbitrary text (a cut-off report is an empty or partial result)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.nat({ max: nmapXml.length }), (noise, cut) => {
        const result = parseNmapXml(nmapXml.slice(0, cut) + noise);
        expect(Array.isArray(result.hosts)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('sslscan XML', () => {
  it('names enabled legacy protocols and weak ciphers as findings', () => {
    const result = parseSslscanXml(`<document><ssltest host="x" port="443">
      <protocol type="ssl" version="3" enabled="0" /><protocol type="tls" version="1.0" enabled="1" />
      <protocol type="tls" version="1.3" enabled="1" />
      <cipher status="accepted" sslversion="TLSv1.0" bits="56" cipher="DES-CBC-SHA" />
      <cipher status="preferred" sslversion="TLSv1.3" bits="256" cipher="TLS_AES_256_GCM_SHA384" />
      <certificate type="short"><subject><![CDATA[x]]></subject><not-valid-after>Jan 1 2030</not-valid-after></certificate>
    </ssltest></document>`);
    expect(result.findings).toEqual([
      'legacy protocol enabled: TLSv1.0',
      'weak cipher: DES-CBC-SHA (56 bits)',
    ]);
    expect(result.certificate?.notAfter).toBe('Jan 1 2030');
  });
});

describe('the header grade', () => {
  it('gives A to a full set and F to none', () => {
    expect(
      gradeHeaders({
        'strict-transport-security': 'max-age=31536000; includeSubDomains',
        'content-security-policy': "default-src 'self'",
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'permissions-policy': 'camera=()',
      }).grade,
    ).toBe('A');
    expect(gradeHeaders({}).grade).toBe('F');
    expect(gradeHeaders({ 'content-security-policy': "script-src 'unsafe-inline'" }).score).toBe(0);
  });
});

describe('hash identification and password strength', () => {
  it('names the formats a hash could be', () => {
    expect(identifyHash('d41d8cd98f00b204e9800998ecf8427e').map((c) => c.name)).toEqual([
      'MD5',
      'NTLM',
      'MD4',
    ]);
    expect(identifyHash(`$2b$12$${'a'.repeat(53)}`)[0]?.name).toBe('bcrypt');
    expect(identifyHash('$argon2id$v=19$m=19456,t=2,p=1$abc$def')[0]?.name).toBe('Argon2');
  });

  it('rates a common password very weak and a long random one strong', () => {
    expect(passwordStrength('password').verdict).toBe('very weak');
    expect(passwordStrength('c7#Vq!9zL@x2$Wm4pR').score).toBeGreaterThanOrEqual(3);
  });
});

describe('the target allowlist', () => {
  // The checker asks for absolute names (target-names.unit.test.ts).
  const resolve = async (host: string) =>
    ({ 'app.example.com.': ['10.1.2.3'], 'evil.example.net.': ['127.0.0.1'], 'other.test.': ['192.0.2.7'] })[
      host
    ] ?? [];

  it('refuses everything while empty, naming the target', async () => {
    await expect(targetChecker([], resolve).check('127.0.0.1')).rejects.toThrow(TargetRefusedError);
    await expect(targetChecker([], resolve).check('127.0.0.1')).rejects.toThrow(/127\.0\.0\.1/);
  });

  it('allows addresses inside listed CIDRs, and names (exact or wildcard) at the address they resolve to once', async () => {
    const check = targetChecker(['10.0.0.0/8', '*.example.net', '::1/128'], resolve);
    expect(await check.check('10.200.0.1')).toBe('10.200.0.1');
    expect(await check.check('https://app.example.com:8443/x')).toBe('10.1.2.3');
    expect(await check.check('evil.example.net')).toBe('127.0.0.1');
    expect(await check.check('[::1]:22')).toBe('::1');
    await expect(check.check('other.test')).rejects.toThrow(TargetRefusedError);
    await expect(check.check('11.0.0.1')).rejects.toThrow(TargetRefusedError);
  });

  it('reads the host of URLs, host:port and bracketed IPv6', () => {
    expect(hostOf('https://Example.com:443/path')).toBe('example.com');
    expect(hostOf('example.com:22')).toBe('example.com');
    expect(hostOf('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(hostOf('2001:db8::1')).toBe('2001:db8::1');
  });
});

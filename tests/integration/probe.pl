#!/usr/bin/perl
# probe.pl: a deliberately misbehaving dmake client, for the tests that
# check what a server does with bad input.  It speaks the handshake of
# doc/protocol.md itself (HMAC-SHA-512 truncated to 32 bytes is libsodium's
# crypto_auth), so a test controls every byte.
#
#   probe.pl HOST:PORT KEYFILE MODE
#     wrongkey  handshake with a random key, then send a BUILD_HELLO
#               anyway; prints "closed" if the server hung up without
#               a proof
#     oversize  good handshake, then a frame header claiming 16 MiB;
#               prints "closed" once the server hangs up
#     garbage   good handshake, then a frame of an unknown type
#   PROBE_ROLE=N sets the handshake role of oversize and garbage [4]
#     hello     good handshake as a build, BUILD_HELLO, wait for GRANT,
#               print "granted N", then hold the connection for 60 s
use strict;
use warnings;
use IO::Socket::INET;
use Digest::SHA qw(hmac_sha512);

my ($addr, $keyfile, $mode) = @ARGV;
die "usage: probe.pl HOST:PORT KEYFILE MODE\n" unless defined $mode;
open(my $kf, '<', $keyfile) or die "$keyfile: $!\n";
my $hex = <$kf>;
chomp $hex;
my $key = pack('H*', $hex);
$key = join('', map { chr(int(rand(256))) } 1 .. 32) if $mode eq 'wrongkey';

my $s = IO::Socket::INET->new(PeerAddr => $addr, Timeout => 5)
    or die "connect $addr: $!\n";
$s->autoflush(1);

sub readn {
	my ($n) = @_;
	my $buf = '';
	while (length($buf) < $n) {
		my $got = sysread($s, my $part, $n - length($buf));
		return undef unless $got;
		$buf .= $part;
	}
	return $buf;
}
sub mac { substr(hmac_sha512(join('', @_), $key), 0, 32) }
sub frame { my ($type, $payload) = @_;
	pack('N n', 2 + length($payload), $type) . $payload }
sub str { pack('N', length($_[0])) . $_[0] }
# Waits up to 10 s for the server to close; prints "closed" if it did.
sub expect_close {
	$s->blocking(0);
	for (1 .. 100) {
		my $r = sysread($s, my $junk, 65536);
		# EOF, or a reset because our unread bytes were discarded.
		if ((defined $r && $r == 0) || (!defined $r && !$!{EAGAIN})) {
			print "closed\n";
			exit 0;
		}
		select(undef, undef, undef, 0.1);
	}
	print "still open\n";
	exit 1;
}

my $hello = readn(40) or die "no server hello\n";
my $ns = substr($hello, 8, 32);
# Role: a build for hello and wrongkey (so a BUILD_HELLO that got through
# would show in `dmake status`), else $PROBE_ROLE (3 shim for a node) or 4.
my $role = ($mode eq 'hello' || $mode eq 'wrongkey') ? 2
    : ($ENV{PROBE_ROLE} // 4);
my $nc = join('', map { chr(int(rand(256))) } 1 .. 32);
my $role_b = pack('n', $role);
print $s "DMK1" . pack('n n', 1, $role) . $nc
    . mac("dmake client", $ns, $nc, $role_b);

if ($mode eq 'wrongkey') {
	# Everything after the handshake must be ignored, never parsed.
	print $s frame(48, str("intruder") . pack('N', 64) . str("x"));
	expect_close();
}
my $proof = readn(32);
die "server refused the key\n" unless defined $proof;
die "server proof wrong\n" unless $proof eq mac("dmake server", $nc, $ns);

if ($mode eq 'oversize') {
	print $s pack('N n', 16 << 20, 48);
	expect_close();
} elsif ($mode eq 'garbage') {
	print $s frame(9999, "nonsense");
	expect_close();
} elsif ($mode eq 'hello') {
	print $s frame(48, str("probe") . pack('N', 1) . str("probe"));
	my $hdr = readn(6) or die "no grant\n";
	my ($len, $type) = unpack('N n', $hdr);
	my $body = readn($len - 2);
	die "expected GRANT, got type $type\n" unless $type == 49;
	my ($hi, $lo, $slots) = unpack('N N N', $body);
	print "granted $slots\n";
	sleep 60;
} else {
	die "unknown mode $mode\n";
}

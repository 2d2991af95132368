#!/usr/bin/env bash
# The ISC EDNS compatibility probes (https://ednscomp.isc.org/), with dig, against a
# name served by a DNS server on loopback:
#
#   bench/edns.sh HOST PORT NAME [ZONE]
#
# ISC's probes ask for the zone's SOA at an authoritative server; etcdhosts serves
# A/AAAA/PTR from a hosts file, so each probe asks NAME A (an existing name) and
# checks the EDNS handling of the reply; the zone's SOA query is probed as well
# (NODATA with the SOA in authority). Prints one line per probe:
#   probe=NAME result=pass|fail detail="..."
# and exits non-zero if any probe failed.
set -uo pipefail
HOST=$1 PORT=$2 NAME=$3 ZONE=${4:-}
case $HOST in 127.*|::1|localhost) ;; *) echo "refusing non-loopback $HOST" >&2; exit 2 ;; esac
fails=0

# probe LABEL "DIG ARGS" QNAME QTYPE EXPECT_STATUS EXPECT_OPT(yes|no) [CHECKS...]
# checks: answer (an answer section), noanswer, version0 (EDNS version 0), do (DO echoed),
# nodo, noopt100 (option 100 not echoed), nombz (unknown flag not echoed), soa (SOA in authority)
probe() {
  local label=$1 args=$2 qname=$3 qtype=$4 want_status=$5 want_opt=$6; shift 6
  local out status detail=() ok=1
  # shellcheck disable=SC2086
  out=$(dig @"$HOST" -p "$PORT" +norec +time=2 +tries=1 $args "$qname" "$qtype" 2>&1)
  status=$(sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$out" | head -1)
  [ "$status" = "$want_status" ] || { ok=0; detail+=("status $status, want $want_status"); }
  if grep -q 'OPT PSEUDOSECTION' <<<"$out"; then
    [ "$want_opt" = yes ] || { ok=0; detail+=("OPT in reply to a query without EDNS"); }
  else
    [ "$want_opt" = no ] || { ok=0; detail+=("no OPT in the reply"); }
  fi
  local ans
  ans=$(sed -n 's/.*ANSWER: \([0-9]*\),.*/\1/p' <<<"$out" | head -1)
  for c in "$@"; do
    case $c in
      answer) [ "${ans:-0}" -gt 0 ] || { ok=0; detail+=("no answer"); } ;;
      noanswer) [ "${ans:-0}" -eq 0 ] || { ok=0; detail+=("$ans answers"); } ;;
      version0) grep -q 'EDNS: version: 0' <<<"$out" || { ok=0; detail+=("EDNS version not 0"); } ;;
      do) grep -Eq 'EDNS: version: [0-9]+, flags:.* do' <<<"$out" || { ok=0; detail+=("DO not echoed"); } ;;
      nodo) ! grep -Eq 'EDNS: version: [0-9]+, flags:.* do' <<<"$out" || { ok=0; detail+=("DO set without being asked"); } ;;
      noopt100) ! grep -Eq '^; OPT=100' <<<"$out" || { ok=0; detail+=("unknown option 100 echoed"); } ;;
      nombz) ! grep -q 'MBZ' <<<"$out" || { ok=0; detail+=("unknown EDNS flag echoed"); } ;;
      soa) grep -A3 'AUTHORITY SECTION' <<<"$out" | grep -q 'SOA' || { ok=0; detail+=("no SOA in authority"); } ;;
    esac
  done
  local d="${detail[*]:-}"
  if [ $ok = 1 ]; then
    echo "probe=$label result=pass detail=\"dig $args $qname $qtype: $status\""
  else
    fails=$((fails + 1))
    echo "probe=$label result=fail detail=\"dig $args $qname $qtype: $d\""
    printf '%s\n' "$out" | sed 's/^/    /' >&2
  fi
}

probe plain     ""                               "$NAME" A NOERROR yes answer version0 nodo
probe noedns    "+noedns"                        "$NAME" A NOERROR no  answer
probe edns0     "+edns=0 +nocookie"              "$NAME" A NOERROR yes answer version0 nodo
probe edns100   "+edns=100 +noednsneg +nocookie" "$NAME" A BADVERS yes noanswer version0
probe ednsopt   "+edns=0 +nocookie +ednsopt=100" "$NAME" A NOERROR yes answer version0 noopt100
probe edns100opt "+edns=100 +noednsneg +nocookie +ednsopt=100" "$NAME" A BADVERS yes noanswer version0 noopt100
probe ednsflags "+edns=0 +nocookie +ednsflags=0x80" "$NAME" A NOERROR yes answer version0 nombz
probe dnssec    "+dnssec +nocookie"              "$NAME" A NOERROR yes answer version0 do
probe tcp       "+tcp +edns=0 +nocookie"         "$NAME" A NOERROR yes answer version0
if [ -n "$ZONE" ]; then
  probe soa-plain  "+noedns"                     "$ZONE" SOA NOERROR no  noanswer soa
  probe soa-edns0  "+edns=0 +nocookie"           "$ZONE" SOA NOERROR yes noanswer soa version0
  probe nx-dnssec  "+dnssec +nocookie"           "nx-probe.$ZONE" A NXDOMAIN yes noanswer soa do
fi
echo "edns_failures=$fails"
[ $fails = 0 ]

#!/usr/bin/env bash
# serve_curl_test.sh DESTSIM — `destsim serve NAME` for the async fakes whose
# clients speak multipart, Basic auth and CSV bodies, driven by a real HTTP
# client (curl) on loopback: Yandex Metrica (a multipart CSV upload, its
# uploading polled, a 403 without the token), Eloqua (/id, an import
# definition, CSV data, a sync, its rejects, the definition deleted) and Bing
# Ads (SOAP GetBulkUploadUrl, a zip posted to the UploadUrl, the status, the
# result zip with its BOM and error row, a SOAP fault for a wrong token) and
# Lytics (a gzipped CSV, droperrors both ways, a wrong key).
# Each server binds 127.0.0.1 on a free port and stops by itself.
set -u
bin=$1
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "serve_curl_test FAILED: $*" >&2; exit 1; }
command -v curl > /dev/null || fail "curl is not installed (scripts/setup.sh installs it)"
wait_for_url() {  # wait_for_url LOGFILE -> prints the base URL
  for _ in $(seq 1 100); do
    local url
    url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$1" | head -1)
    [ -n "$url" ] && { echo "$url"; return 0; }
    sleep 0.1
  done
  return 1
}
# curl_status OUTFILE CURL-ARGS… -> prints the HTTP status, the body in OUTFILE
curl_status() { local out=$1; shift; curl -sS --max-time 10 -o "$out" -w '%{http_code}' "$@"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d' + sys.argv[2]))" "$@"; }

# --- Yandex Metrica ------------------------------------------------------------
DESTSIM_ADMIN_TOKEN=curl-admin "$bin" serve yandex_metrica --port 0 --max-requests 4 --max-lifetime 60s \
  --options '{"api_key": "y0_curl", "counter_ids": [44147844], "processing_for": "0s"}' > "$tmp/ym.log" 2>&1 &
pids+=($!)
base=$(wait_for_url "$tmp/ym.log") || fail "yandex_metrica: serve printed no URL: $(cat "$tmp/ym.log")"
api="$base/management/v1/counter/44147844/offline_conversions"
# Two valid rows, one whose Target is no goal identifier (counted out of line_quantity).
printf 'ClientId,Target,DateTime,Price,Currency\n1703980800111,order_paid,1703980800,1500.50,RUB\n1703980800222,lead,1703980900,,\n1703980800333,not a goal,1703981000,,\n' > "$tmp/conv.csv"
st=$(curl_status "$tmp/up.json" -H 'Authorization: OAuth y0_curl' -F "file=@$tmp/conv.csv;type=text/csv" \
  "$api/upload?client_id_type=CLIENT_ID&comment=curl")
[ "$st" = "200" ] || fail "yandex_metrica upload answered $st: $(cat "$tmp/up.json")"
[ "$(json "$tmp/up.json" "['uploading']['source_quantity']")" = "3" ] || fail "source_quantity: $(cat "$tmp/up.json")"
[ "$(json "$tmp/up.json" "['uploading']['line_quantity']")" = "2" ] || fail "line_quantity: $(cat "$tmp/up.json")"
id=$(json "$tmp/up.json" "['uploading']['id']")
st=$(curl_status "$tmp/st.json" -H 'Authorization: OAuth y0_curl' "$api/uploading/$id")
[ "$st" = "200" ] || fail "yandex_metrica status answered $st: $(cat "$tmp/st.json")"
[ "$(json "$tmp/st.json" "['uploading']['status']")" = "PROCESSED" ] || fail "not processed: $(cat "$tmp/st.json")"
# The admin surface is not counted toward --max-requests (4 here).
st=$(curl_status "$tmp/acc.json" -H "X-Destsim-Token: curl-admin" "$base/_destsim/accepted")
[ "$st" = "200" ] || fail "accepted answered $st"
[ "$(json "$tmp/acc.json" "['conversions_applied']")" = "2" ] || fail "applied: $(cat "$tmp/acc.json")"
st=$(curl_status "$tmp/no.json" "$api/uploading/$id")
[ "$st" = "403" ] || fail "no token answered $st"
[ "$(json "$tmp/no.json" "['errors'][0]['error_type']")" = "invalid_token" ] || fail "403 body: $(cat "$tmp/no.json")"
st=$(curl_status "$tmp/bad.json" -H 'Authorization: OAuth y0_curl' -F "file=@$tmp/conv.csv" "$api/upload?client_id_type=USER_ID")
[ "$st" = "400" ] || fail "a ClientId header under USER_ID answered $st"

# --- Eloqua --------------------------------------------------------------------
DESTSIM_ADMIN_TOKEN=curl-admin "$bin" serve eloqua --port 0 --max-requests 8 --max-lifetime 60s \
  --options '{"company": "Acme", "username": "destsim", "password": "pw-curl", "pending_for": "0s", "active_for": "0s"}' \
  > "$tmp/el.log" 2>&1 &
pids+=($!)
base=$(wait_for_url "$tmp/el.log") || fail "eloqua: serve printed no URL: $(cat "$tmp/el.log")"
auth=(-u 'Acme\destsim:pw-curl')
st=$(curl_status "$tmp/id.json" "${auth[@]}" "$base/id")
[ "$st" = "200" ] || fail "eloqua /id answered $st: $(cat "$tmp/id.json")"
[ "$(json "$tmp/id.json" "['urls']['base']")" = "https://secure.p04.eloqua.com" ] || fail "/id: $(cat "$tmp/id.json")"
bulk="$base/api/bulk/2.0"
st=$(curl_status "$tmp/imp.json" "${auth[@]}" -H 'Content-Type: application/json' -d \
  '{"name": "curl-1", "fields": {"email": "{{Contact.Field(C_EmailAddress)}}", "first_name": "{{Contact.Field(C_FirstName)}}"}, "identifierFieldName": "email", "isSyncTriggeredOnImport": false}' \
  "$bulk/contacts/imports")
[ "$st" = "201" ] || fail "import definition answered $st: $(cat "$tmp/imp.json")"
uri=$(json "$tmp/imp.json" "['uri']")
printf 'email,first_name\nada@example.com,Ada\nnot-an-email,Bob\n' > "$tmp/rows.csv"
st=$(curl_status "$tmp/data.out" "${auth[@]}" -H 'Content-Type: text/csv' --data-binary "@$tmp/rows.csv" "$bulk$uri/data")
[ "$st" = "204" ] || fail "data POST answered $st: $(cat "$tmp/data.out")"
st=$(curl_status "$tmp/sync.json" "${auth[@]}" -H 'Content-Type: application/json' -d "{\"syncedInstanceUri\": \"$uri\"}" "$bulk/syncs")
[ "$st" = "201" ] || fail "sync answered $st: $(cat "$tmp/sync.json")"
sync=$(json "$tmp/sync.json" "['uri']")
st=$(curl_status "$tmp/s.json" "${auth[@]}" "$bulk$sync")
[ "$(json "$tmp/s.json" "['status']")" = "warning" ] || fail "sync status: $(cat "$tmp/s.json")"
st=$(curl_status "$tmp/rej.json" "${auth[@]}" "$bulk$sync/rejects?limit=1000&offset=0")
[ "$(json "$tmp/rej.json" "['items'][0]['recordIndex']")" = "2" ] || fail "rejects: $(cat "$tmp/rej.json")"
st=$(curl_status "$tmp/del.out" "${auth[@]}" -X DELETE "$bulk$uri")
[ "$st" = "204" ] || fail "DELETE answered $st"
st=$(curl_status "$tmp/acc.json" -H "X-Destsim-Token: curl-admin" "$base/_destsim/accepted")
[ "$(json "$tmp/acc.json" "['live_imports']")" = "0" ] || fail "live imports: $(cat "$tmp/acc.json")"
[ "$(json "$tmp/acc.json" "['contact_count']")" = "1" ] || fail "contacts: $(cat "$tmp/acc.json")"
# The eighth request, the last the bounded server answers.
st=$(curl_status "$tmp/unauth.json" -u 'Acme\destsim:wrong' "$bulk/contacts/imports")
[ "$st" = "401" ] || fail "a wrong password answered $st"

# --- Bing Ads ------------------------------------------------------------------
# The upload and result-file URLs the service hands out must point back at this
# door: a free port is picked first and named in the options.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
door="http://127.0.0.1:$port"
DESTSIM_ADMIN_TOKEN=curl-admin "$bin" serve bingads --port "$port" --max-requests 7 --max-lifetime 60s \
  --options "{\"token\": \"tok-curl\", \"developer_token\": \"dev-curl\", \"customer_id\": \"1000\",
              \"account_ids\": [123], \"audience_ids\": [555], \"queued_for\": \"0s\", \"processing_for\": \"0s\",
              \"upload_base_url\": \"$door\", \"result_base_url\": \"$door\"}" > "$tmp/bing.log" 2>&1 &
pids+=($!)
base=$(wait_for_url "$tmp/bing.log") || fail "bingads: serve printed no URL: $(cat "$tmp/bing.log")"
svc="$base/Api/Advertiser/CampaignManagement/v13/BulkService.svc"
soap() {  # soap OUTFILE ACTION BODY [TOKEN] -> prints the HTTP status
  local token=${4:-tok-curl}
  curl_status "$1" -H 'Content-Type: text/xml; charset=utf-8' -H "SOAPAction: $2" --data-binary \
    "<s:Envelope xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header xmlns=\"https://bingads.microsoft.com/CampaignManagement/v13\"><Action mustUnderstand=\"1\">$2</Action><AuthenticationToken>$token</AuthenticationToken><CustomerAccountId>123</CustomerAccountId><CustomerId>1000</CustomerId><DeveloperToken>dev-curl</DeveloperToken></s:Header><s:Body><$2Request xmlns=\"https://bingads.microsoft.com/CampaignManagement/v13\">$3</$2Request></s:Body></s:Envelope>" \
    "$svc"
}
xml() { python3 -c "import re,sys,html; m=re.search('<'+sys.argv[2]+'>(.*?)</'+sys.argv[2]+'>', open(sys.argv[1]).read()); print(html.unescape(m.group(1)) if m else '')" "$@"; }
st=$(soap "$tmp/url.xml" GetBulkUploadUrl '<ResponseMode>ErrorsAndResults</ResponseMode><AccountId>123</AccountId>')
[ "$st" = "200" ] || fail "GetBulkUploadUrl answered $st: $(cat "$tmp/url.xml")"
rid=$(xml "$tmp/url.xml" RequestId)
upload_url=$(xml "$tmp/url.xml" UploadUrl)
case "$upload_url" in "$door"/*) ;; *) fail "UploadUrl $upload_url is not on the door $door" ;; esac
# A customer list file: a BOM, the header, the Format Version row, the list row,
# one valid member and one whose Text is not a hash.
python3 - "$tmp/list.zip" <<'PY'
import hashlib, sys, zipfile
h = hashlib.sha256(b"ada@example.com").hexdigest()
csv = ("\ufeffType,Status,Id,Parent Id,Client Id,Modified Time,Name,Description,Scope,Audience,Action Type,Sub Type,Text\n"
       "Format Version,,,,,,6.0,,,,,,\n"
       "Customer List,,555,,,,,,,,Add,,\n"
       f"Customer List Item,,,555,1,,,,,,,Email,{h}\n"
       "Customer List Item,,,555,2,,,,,,,Email,not-a-hash\n")
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("upload.csv", csv.encode("utf-8"))
PY
st=$(curl_status "$tmp/up.json" -H 'AuthenticationToken: tok-curl' -H 'DeveloperToken: dev-curl' -H 'CustomerId: 1000' \
  -H 'AccountId: 123' -F "file=@$tmp/list.zip;type=application/zip" "$upload_url")
[ "$st" = "200" ] || fail "the upload answered $st: $(cat "$tmp/up.json")"
[ "$(json "$tmp/up.json" "['RequestId']")" = "$rid" ] || fail "upload answer: $(cat "$tmp/up.json")"
st=$(soap "$tmp/status.xml" GetBulkUploadStatus "<RequestId>$rid</RequestId>")
[ "$st" = "200" ] || fail "GetBulkUploadStatus answered $st: $(cat "$tmp/status.xml")"
[ "$(xml "$tmp/status.xml" RequestStatus)" = "CompletedWithErrors" ] || fail "status: $(cat "$tmp/status.xml")"
result_url=$(xml "$tmp/status.xml" ResultFileUrl)
st=$(curl_status "$tmp/result.zip" "$result_url")
[ "$st" = "200" ] || fail "the result file answered $st"
python3 - "$tmp/result.zip" <<'PY' || fail "the result file is wrong"
import csv, io, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
[name] = z.namelist()
data = z.read(name)
assert data.startswith(b"\xef\xbb\xbf"), "no BOM"
rows = list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"))))
errors = {r["Client Id"]: r["Error"] for r in rows if r["Type"].endswith(" Error")}
assert errors == {"2": "EmailMustBeHashed"}, errors
assert any(r["Type"] == "Customer List Item" and r["Client Id"] == "1" for r in rows), rows
PY
st=$(curl_status "$tmp/acc.json" -H "X-Destsim-Token: curl-admin" "$base/_destsim/accepted")
[ "$(json "$tmp/acc.json" "['audiences']['555']")" = "1" ] || fail "members: $(cat "$tmp/acc.json")"
# A wrong token: a SOAP fault (HTTP 500) naming InvalidCredentials.
st=$(soap "$tmp/fault.xml" GetBulkUploadStatus "<RequestId>$rid</RequestId>" wrong-token)
[ "$st" = "500" ] || fail "a wrong token answered $st"
[ "$(xml "$tmp/fault.xml" ErrorCode)" = "InvalidCredentials" ] || fail "fault: $(cat "$tmp/fault.xml")"

# --- Lytics --------------------------------------------------------------------
DESTSIM_ADMIN_TOKEN=curl-admin "$bin" serve lytics --port 0 --max-requests 4 --max-lifetime 60s \
  --options '{"api_key": "ly-curl"}' > "$tmp/ly.log" 2>&1 &
pids+=($!)
base=$(wait_for_url "$tmp/ly.log") || fail "lytics: serve printed no URL: $(cat "$tmp/ly.log")"
printf 'email,first_name,ts\nada@example.com,Ada,1703980800\n"grace@example.com","Grace, RA",2024-01-01T00:00:00Z\n' > "$tmp/rows.csv"
gzip -c "$tmp/rows.csv" > "$tmp/rows.csv.gz"
st=$(curl_status "$tmp/ly1.json" -H 'Authorization: ly-curl' -H 'Content-Type: application/csv' \
  -H 'Content-Encoding: gzip' --data-binary "@$tmp/rows.csv.gz" "$base/collect/bulk/people?timestamp_field=ts")
[ "$st" = "200" ] || fail "lytics upload answered $st: $(cat "$tmp/ly1.json")"
[ "$(json "$tmp/ly1.json" "['data']['message_count']")" = "2" ] || fail "message_count: $(cat "$tmp/ly1.json")"
[ "$(json "$tmp/ly1.json" "['data']['rejected_count']")" = "0" ] || fail "rejected_count: $(cat "$tmp/ly1.json")"
# droperrors=true: the row whose timestamp does not parse is dropped and counted.
printf 'email,ts\nalan@example.com,yesterday\nedsger@example.com,1703980800\n' > "$tmp/bad.csv"
st=$(curl_status "$tmp/ly2.json" -H 'Authorization: ly-curl' -H 'Content-Type: text/csv' --data-binary "@$tmp/bad.csv" \
  "$base/collect/bulk/people?timestamp_field=ts&droperrors=true")
[ "$st" = "200" ] || fail "lytics droperrors upload answered $st: $(cat "$tmp/ly2.json")"
[ "$(json "$tmp/ly2.json" "['data']['rejected_count']")" = "1" ] || fail "rejected_count: $(cat "$tmp/ly2.json")"
# droperrors=false (the default): the same file is refused whole, naming the row.
st=$(curl_status "$tmp/ly3.json" -H 'Authorization: ly-curl' -H 'Content-Type: text/csv' --data-binary "@$tmp/bad.csv" \
  "$base/collect/bulk/people?timestamp_field=ts")
[ "$st" = "400" ] || fail "a bad row without droperrors answered $st"
st=$(curl_status "$tmp/acc.json" -H "X-Destsim-Token: curl-admin" "$base/_destsim/accepted")
[ "$(json "$tmp/acc.json" "['streams']['people']")" = "3" ] || fail "rows applied: $(cat "$tmp/acc.json")"
# The fourth request: a wrong key.
st=$(curl_status "$tmp/ly4.json" -H 'Authorization: wrong' -H 'Content-Type: text/csv' --data-binary "@$tmp/rows.csv" \
  "$base/collect/bulk/people")
[ "$st" = "401" ] || fail "a wrong key answered $st"

# --- Snowpipe Streaming (the sidecar, and the SQL API by its Host) -------------------
DESTSIM_ADMIN_TOKEN=curl-admin "$bin" serve snowpipe --port 0 --max-requests 9 --max-lifetime 60s \
  --options '{"commit_delay": "0s", "sql_token": "sql-curl"}' > "$tmp/sp.log" 2>&1 &
pids+=($!)
base=$(wait_for_url "$tmp/sp.log") || fail "snowpipe: serve printed no URL: $(cat "$tmp/sp.log")"
open_body='{"rudderIdentifier": "curl", "partition": "1", "account": {"account": "DESTSIM-ACCOUNT", "user": "DESTSIM_USER",
  "role": "DESTSIM_ROLE", "privateKey": "-----BEGIN PRIVATE KEY-----\nMIIcurl\n-----END PRIVATE KEY-----",
  "privateKeyPassphrase": ""}, "table": {"database": "DESTSIM", "schema": "RUDDER", "table": "TRACKS"}}'
# The table does not exist yet: HTTP 200, success false, the code the destination creates it on.
st=$(curl_status "$tmp/sp1.json" -H 'Content-Type: application/json' --data "$open_body" "$base/channels")
[ "$st" = "200" ] || fail "snowpipe open answered $st: $(cat "$tmp/sp1.json")"
[ "$(json "$tmp/sp1.json" "['code']")" = "ERR_TABLE_DOES_NOT_EXIST_OR_NOT_AUTHORIZED" ] || fail "open: $(cat "$tmp/sp1.json")"
st=$(curl_status "$tmp/sp2.json" -H 'Host: destsim.snowflakecomputing.com' -H 'Authorization: Bearer sql-curl' \
  -H 'X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT' -H 'Content-Type: application/json' \
  --data '{"statement": "CREATE TABLE IF NOT EXISTS DESTSIM.RUDDER.TRACKS (ID VARCHAR NOT NULL, AMOUNT FLOAT)"}' \
  "$base/api/v2/statements")
[ "$st" = "200" ] || fail "SQL CREATE TABLE answered $st: $(cat "$tmp/sp2.json")"
st=$(curl_status "$tmp/sp3.json" -H 'Content-Type: application/json' --data "$open_body" "$base/channels")
[ "$(json "$tmp/sp3.json" "['success']")" = "True" ] || fail "reopen: $(cat "$tmp/sp3.json")"
ch=$(json "$tmp/sp3.json" "['channelId']")
[ "$(json "$tmp/sp3.json" "['tableSchema']['AMOUNT']['type']")" = "FLOAT" ] || fail "tableSchema: $(cat "$tmp/sp3.json")"
printf '{"rows": [{"ID": "m1", "AMOUNT": 1.5}, {"ID": "m2", "AMOUNT": "2.25"}], "offset": "7"}' | gzip -c > "$tmp/ins.json.gz"
st=$(curl_status "$tmp/sp4.json" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' \
  --data-binary "@$tmp/ins.json.gz" "$base/channels/$ch/insert")
[ "$st" = "200" ] && [ "$(json "$tmp/sp4.json" "['success']")" = "True" ] || fail "insert answered $st: $(cat "$tmp/sp4.json")"
# Committed (commit_delay 0s): the status says offset 7 for the channel.
st=$(curl_status "$tmp/sp5.json" "$base/channels/bulk-status?channelIds=$ch&channelIds=ch-99")
[ "$(json "$tmp/sp5.json" "['statuses']['$ch']['offset']")" = "7" ] || fail "status: $(cat "$tmp/sp5.json")"
[ "$(json "$tmp/sp5.json" "['notFound']")" = "['ch-99']" ] || fail "notFound: $(cat "$tmp/sp5.json")"
# The same token again: a no-op (exactly once by offset token).
st=$(curl_status "$tmp/sp6.json" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' \
  --data-binary "@$tmp/ins.json.gz" "$base/channels/$ch/insert")
[ "$(json "$tmp/sp6.json" "['noop']")" = "True" ] || fail "re-insert: $(cat "$tmp/sp6.json")"
# A row whose value the column cannot take: refused with its rowIndex.
st=$(curl_status "$tmp/sp7.json" -H 'Content-Type: application/json' \
  --data '{"rows": [{"ID": "m3", "AMOUNT": "lots"}], "offset": "8"}' "$base/channels/$ch/insert")
[ "$(json "$tmp/sp7.json" "['errors'][0]['rowIndex']")" = "0" ] || fail "bad row: $(cat "$tmp/sp7.json")"
st=$(curl_status "$tmp/acc.json" -H "X-Destsim-Token: curl-admin" "$base/_destsim/accepted")
[ "$(json "$tmp/acc.json" "['tables']['DESTSIM.RUDDER.TRACKS']['rows']")" = "2" ] || fail "rows: $(cat "$tmp/acc.json")"
# An unknown channel: 404 (the destination reopens on it).
st=$(curl_status "$tmp/sp8.json" -H 'Content-Type: application/json' --data '{"rows": [{"ID": "x"}], "offset": "9"}' \
  "$base/channels/ch-99/insert")
[ "$st" = "404" ] || fail "an unknown channel answered $st"

for p in "${pids[@]}"; do wait "$p" || fail "a bounded server exited $?"; done
pids=()
echo "serve_curl_test: ok"

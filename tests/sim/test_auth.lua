-- The simulator's SigV4 check: wrong secrets, unknown keys, missing and
-- malformed Authorization, expired dates, session tokens and region
-- scoping, through the real AWS CLI and through requests signed here with
-- mnem._sigv4 and sent with curl.
local t = require("t")
local sim_process = require("sim_process")
local cjson = require("cjson")
local sigv4 = require("mnem._sigv4")
local auth = require("sim.auth")

local AWS_ENV = "AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null "
  .. "AWS_REGION=us-east-1 AWS_PAGER= AWS_MAX_ATTEMPTS=1 "
local DIR = t.tmpdir()

local sh, write = sim_process.sh, sim_process.write

local start_sim, stop_sim = sim_process.start, sim_process.stop

local function aws(sim, key, secret, args, extra_env)
  return sh(("AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s %s %s /usr/bin/aws --endpoint-url %s --output json %s")
    :format(key, secret, AWS_ENV, extra_env or "", sim.endpoint, args))
end

-- Sends a request signed with mnem._sigv4. OPTIONS: service, body, target
-- (X-Amz-Target, for JSON services), access_key, secret_key, token, time,
-- region, authorization (sent instead of the computed one), skip_auth.
-- Returns the HTTP status and the body.
local function signed_request(sim, options)
  local body = options.body or ""
  local headers = { { "Host", "127.0.0.1:" .. sim.port } }
  if options.target then
    headers[#headers + 1] = { "Content-Type", "application/x-amz-json-1.1" }
    headers[#headers + 1] = { "X-Amz-Target", options.target }
  else
    headers[#headers + 1] = { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" }
  end
  local signed = sigv4.sign{
    method = "POST", path = "/", headers = headers, body = body, access_key = options.access_key or "test",
    secret_key = options.secret_key or "test", session_token = options.token, region = options.region or "us-east-1",
    service = options.service, time = options.time,
  }
  for _, pair in ipairs(signed.headers) do headers[#headers + 1] = pair end
  if not options.skip_auth then
    headers[#headers + 1] = { "Authorization", options.authorization or signed.authorization }
  end
  local args = {}
  for _, pair in ipairs(headers) do
    if pair[1] ~= "Host" then args[#args + 1] = ("-H '%s: %s'"):format(pair[1], pair[2]) end
  end
  write(DIR .. "/body", body)
  write(DIR .. "/out", "")
  local out = sh(("curl -s -o %s/out -w '%%{http_code}' %s --data-binary @%s/body %s/"):format(DIR,
    table.concat(args, " "), DIR, sim.endpoint))
  return tonumber(out:match("(%d+)%s*$")), t.read_file(DIR .. "/out")
end

local STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
local SSM_BODY = '{"Name":"/x"}'
local SSM_TARGET = "AmazonSSM.GetParameter"

local sim = start_sim("--quiet")

t.test("cli wrong secret", function()
  local out, status = aws(sim, "test", "wrong-secret", "sts get-caller-identity")
  t.ok(status ~= 0, "the CLI fails")
  t.contains(out, "(SignatureDoesNotMatch)")
end)

t.test("cli wrong secret json service", function()
  local out = aws(sim, "test", "wrong-secret", "ssm get-parameter --name /x")
  t.contains(out, "(InvalidSignatureException)")
end)

t.test("cli unknown access key", function()
  local out = aws(sim, "AKIDUNKNOWN", "test", "sts get-caller-identity")
  t.contains(out, "(InvalidClientTokenId)")
  t.contains(out, "The security token included in the request is invalid.")
end)

t.test("cli unknown access key json service", function()
  local out = aws(sim, "AKIDUNKNOWN", "test", "ecs list-clusters")
  t.contains(out, "(UnrecognizedClientException)")
end)

t.test("cli correct key accepted", function()
  local out, status = aws(sim, "test", "test", "sts get-caller-identity")
  t.eq(status, 0, out)
end)

t.test("signed here accepted", function()
  local status, body = signed_request(sim, { service = "sts", body = STS_BODY })
  t.eq(status, 200, body)
  t.contains(body, "<GetCallerIdentityResponse")
end)

t.test("missing authorization query", function()
  local status, body = signed_request(sim, { service = "sts", body = STS_BODY, skip_auth = true })
  t.eq(status, 403)
  t.contains(body, "<Code>MissingAuthenticationToken</Code>")
end)

t.test("missing authorization json", function()
  local status, body = signed_request(sim, { service = "ssm", body = SSM_BODY, target = SSM_TARGET, skip_auth = true })
  t.eq(status, 400)
  t.contains(body, "MissingAuthenticationTokenException")
end)

t.test("malformed authorization", function()
  local status, body = signed_request(sim, { service = "sts", body = STS_BODY, authorization = "AWS4-HMAC-SHA256 x" })
  t.eq(status, 403)
  t.contains(body, "<Code>IncompleteSignature</Code>")
end)

t.test("expired signature query", function()
  local status, body = signed_request(sim, { service = "sts", body = STS_BODY, time = os.time() - 20 * 60 })
  t.eq(status, 403)
  t.contains(body, "<Code>SignatureDoesNotMatch</Code>")
  t.contains(body, "Signature expired:")
end)

t.test("expired signature json", function()
  local status, body = signed_request(sim, { service = "ssm", body = SSM_BODY, target = SSM_TARGET,
    time = os.time() - 20 * 60 })
  t.eq(status, 400)
  t.contains(body, "InvalidSignatureException")
  t.contains(body, "Signature expired:")
end)

t.test("future signature rejected", function()
  local status, body = signed_request(sim, { service = "sts", body = STS_BODY, time = os.time() + 20 * 60 })
  t.eq(status, 403)
  t.contains(body, "Signature not yet current")
end)

t.test("small clock skew accepted", function()
  local status = signed_request(sim, { service = "sts", body = STS_BODY, time = os.time() - 10 * 60 })
  t.eq(status, 200)
end)

t.test("tampered body rejected", function()
  local signed = sigv4.sign{ method = "POST", path = "/", headers = { { "Host", "127.0.0.1:" .. sim.port },
    { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" } }, body = STS_BODY, access_key = "test",
    secret_key = "test", region = "us-east-1", service = "sts", time = os.time() }
  local date = signed.headers[1][2]
  write(DIR .. "/tampered", STS_BODY .. "&Extra=1")
  local out = sh(("curl -s -H 'Content-Type: application/x-www-form-urlencoded; charset=utf-8' -H 'X-Amz-Date: %s' "
    .. "-H 'Authorization: %s' --data-binary @%s/tampered %s/"):format(date, signed.authorization, DIR, sim.endpoint))
  t.contains(out, "<Code>SignatureDoesNotMatch</Code>")
end)

t.test("content sha256 header checked", function()
  local function send(hash)
    local headers = { { "Host", "127.0.0.1:" .. sim.port }, { "Content-Type", "application/x-www-form-urlencoded" },
      { "X-Amz-Content-Sha256", hash } }
    local signed = sigv4.sign{ method = "POST", path = "/", headers = headers, body = STS_BODY, access_key = "test",
      secret_key = "test", region = "us-east-1", service = "sts", payload_hash = hash }
    return sh(("curl -s -H 'Content-Type: %s' -H 'X-Amz-Content-Sha256: %s' -H 'X-Amz-Date: %s' "
      .. "-H 'Authorization: %s' -d '%s' %s/"):format(headers[2][2], hash, signed.headers[1][2],
      signed.authorization, STS_BODY, sim.endpoint))
  end
  t.contains(send(sigv4.sha256_hex(STS_BODY)), "<GetCallerIdentityResponse")
  t.contains(send("UNSIGNED-PAYLOAD"), "<GetCallerIdentityResponse")
  local out = send(sigv4.sha256_hex("another body"))
  t.contains(out, "<Code>SignatureDoesNotMatch</Code>")
  t.contains(out, "x-amz-content-sha256")
end)

t.test("unsimulated service named", function()
  local status, body = signed_request(sim, { service = "s3", body = STS_BODY })
  t.eq(status, 400)
  t.contains(body, "mnem simulator does not simulate service s3")
end)

t.test("session token checked", function()
  local path = DIR .. "/token.lua"
  write(path, [[return { any_region = false, region = "us-east-1", credentials = {
    { access_key_id = "test", secret_access_key = "test" },
    { access_key_id = "ASIATEMP", secret_access_key = "temporary-secret", session_token = "the-token" } } }]])
  local other = start_sim("--quiet --scenario " .. path)
  local status = signed_request(other, { service = "sts", body = STS_BODY, access_key = "ASIATEMP",
    secret_key = "temporary-secret", token = "the-token" })
  t.eq(status, 200)
  local bad_status, body = signed_request(other, { service = "sts", body = STS_BODY, access_key = "ASIATEMP",
    secret_key = "temporary-secret", token = "another-token" })
  t.eq(bad_status, 403)
  t.contains(body, "<Code>InvalidClientTokenId</Code>")
  local none_status = signed_request(other, { service = "sts", body = STS_BODY, access_key = "ASIATEMP",
    secret_key = "temporary-secret" })
  t.eq(none_status, 403)
  local region_status, region_body = signed_request(other, { service = "sts", body = STS_BODY, region = "eu-west-1" })
  t.eq(region_status, 403)
  t.contains(region_body, "Credential should be scoped to a valid region")
  stop_sim(other)
end)

t.test("cli assume role keys accepted", function()
  local out, status = aws(sim, "test", "test",
    "sts assume-role --role-arn arn:aws:iam::123456789012:role/deploy --role-session-name s1")
  t.eq(status, 0, out)
  local credentials = cjson.decode(out).Credentials
  local who = aws(sim, credentials.AccessKeyId, credentials.SecretAccessKey, "sts get-caller-identity",
    "AWS_SESSION_TOKEN=" .. credentials.SessionToken)
  t.contains(who, "assumed-role/deploy/s1")
end)

t.test("parse authorization header", function()
  local parsed = auth.parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/rds/aws4_request, "
    .. "SignedHeaders=host;x-amz-date, Signature=ABCDEF")
  t.eq(parsed.access_key, "AKID")
  t.eq(parsed.date, "20261204")
  t.eq(parsed.region, "us-east-1")
  t.eq(parsed.service, "rds")
  t.eq(parsed.signed_headers, { "host", "x-amz-date" })
  t.eq(parsed.signature, "abcdef")
  t.eq(auth.parse_authorization("Basic dXNlcjpwYXNz"), nil)
  t.eq(auth.parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1/rds/aws4_request"), nil)
  t.eq(auth.parse_authorization(nil), nil)
end)

t.test("secret never in log", function()
  local path = DIR .. "/secret.lua"
  write(path, [[return { credentials = { { access_key_id = "AKIDLOG", secret_access_key = "very-secret-key-1" } } }]])
  local other = start_sim("--scenario " .. path)
  signed_request(other, { service = "sts", body = STS_BODY, access_key = "AKIDLOG", secret_key = "very-secret-key-1" })
  signed_request(other, { service = "sts", body = "Action=GetCallerIdentity&X=very-secret-key-1",
    access_key = "AKIDLOG", secret_key = "very-secret-key-1" })
  stop_sim(other)
  os.execute("sleep 0.2")
  t.not_contains(t.read_file(other.log), "very-secret-key-1")
end)

stop_sim(sim)
sim_process.stop_all()
return t.done()

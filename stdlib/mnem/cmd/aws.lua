-- mnem aws SERVICE OPERATION [JSON]: make one AWS call from the command line.
--
-- The call goes through the same client as playbooks (validation, retries,
-- credentials and endpoint resolution). The result is printed as JSON with
-- sorted keys, so output is stable enough to compare in scripts.
local cli = require("mnem.cli")
local cjson = require("cjson")
local errors = require("mnem.errors")
local secret = require("mnem.secret")

local M = {}

M.summary = "make one AWS API call and print the result as JSON"
M.usage = [[
usage: mnem aws SERVICE OPERATION [JSON] [options]
       mnem aws SERVICE            (lists the service's operations)

Calls OPERATION of SERVICE once and prints the output as JSON (2-space
indent, keys sorted) on stdout.

  SERVICE     rds, ssm, ecs, logs, elbv2, application-autoscaling, sts,
              secretsmanager
  OPERATION   boto3 snake case (describe_db_instances), the AWS CLI form
              (describe-db-instances) or the API name (DescribeDBInstances)
  JSON        the parameters as one JSON object with AWS member names, e.g.
              '{"DBInstanceIdentifier": "db1"}' (default: no parameters)

options:
  --endpoint-url URL   send to URL instead of the configured endpoint
  --region REGION      the AWS region (default: AWS_REGION, AWS_DEFAULT_REGION,
                       then the profile's region)
  --profile NAME       the profile in the shared config and credentials files
  --query EXPRESSION   print only the result of this JMESPath expression

Credentials come from the environment, the profile (static keys, role_arn,
credential_process), a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE and
AWS_ROLE_ARN, or web_identity_token_file and role_arn in the profile) or
AWS_CONTAINER_CREDENTIALS_FULL_URI on loopback.
Values mnem treats as secret (SecureString values, SecretString, passwords,
secret keys, session tokens) are masked in the output.
Exit status: 0 success, 1 the call failed (the error is printed on one line
on stderr), 2 usage or invalid parameters (nothing was sent).]]

local OPTIONS = { ["--endpoint-url"] = "string", ["--region"] = "string", ["--profile"] = "string",
                  ["--query"] = "string" }

-- ---- JSON output -------------------------------------------------------------

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                    ["\b"] = "\\b", ["\f"] = "\\f" }
    return named[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function json_number(n)
  if math.type(n) == "integer" then return tostring(n) end
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  if n == math.floor(n) and math.abs(n) < 2 ^ 53 then return ("%.1f"):format(n) end
  for digits = 1, 17 do
    local text = ("%." .. digits .. "g"):format(n)
    if tonumber(text) == n then return text end
  end
  return ("%.17g"):format(n)
end

local function is_array(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

-- Encodes VALUE as indented JSON. SHAPE (a model shape, or nil) decides
-- whether an empty table is [] or {}; without one, an empty table is [].
local function encode(m, value, shape, indent)
  local kind = type(value)
  if value == nil or value == cjson.null then return "null" end
  if kind == "string" then return json_string(value) end
  if kind == "number" then return json_number(value) end
  if kind == "boolean" then return tostring(value) end
  if kind ~= "table" then return json_string(tostring(value)) end
  local inner = indent .. "  "
  local shape_type = shape and shape.type
  if shape_type == "list" or (shape_type == nil and is_array(value)) then
    if #value == 0 and shape_type ~= "structure" and shape_type ~= "map" then return "[]" end
    local member = shape and shape.member and m:shape(shape.member.shape)
    local items = {}
    for i, v in ipairs(value) do items[i] = inner .. encode(m, v, member, inner) end
    return "[\n" .. table.concat(items, ",\n") .. "\n" .. indent .. "]"
  end
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  if #keys == 0 then return "{}" end
  local items = {}
  for i, k in ipairs(keys) do
    local child
    if shape_type == "structure" and shape.members and shape.members[k] then
      child = m:shape(shape.members[k].shape)
    elseif shape_type == "map" and shape.value then
      child = m:shape(shape.value.shape)
    end
    items[i] = inner .. json_string(k) .. ": " .. encode(m, value[k], child, inner)
  end
  return "{\n" .. table.concat(items, ",\n") .. "\n" .. indent .. "}"
end

--- Returns VALUE as indented JSON with sorted keys. M_ and SHAPE (an
-- aws.model model and the value's shape) are optional.
function M.to_json(value, m, shape)
  return encode(m, value, shape, "")
end

-- ---- the command -------------------------------------------------------------

local function usage_error(message)
  error(cli.usage_error("mnem aws: " .. message), 0)
end

local function list_operations(service)
  local model = require("aws.model")
  local m = model.load(service)
  local names = {}
  for _, name in ipairs(m:operation_names()) do names[#names + 1] = model.snake_case(name) end
  table.sort(names)
  io.stdout:write(table.concat(names, "\n"), "\n")
  return cli.EXIT.ok
end

-- Raises the usage error for operation TYPED, which model M lacks, with
-- the closest operation written in the form the user typed: the AWS CLI
-- form (get-parameter), boto3 snake case (get_parameter) or the API name
-- (GetParameter).
local function unknown_operation(service, m, typed)
  local model = require("aws.model")
  local candidates = {}
  for _, name in ipairs(m:operation_names()) do
    local snake = model.snake_case(name)
    if typed:find("-", 1, true) then
      candidates[#candidates + 1] = (snake:gsub("_", "-"))
    elseif typed:find("^%u") then
      candidates[#candidates + 1] = name
    else
      candidates[#candidates + 1] = snake
    end
  end
  local close = require("aws.client").closest(typed, candidates)
  usage_error(("%s has no operation %s%s; `mnem aws %s` lists them"):format(service, typed,
    close and (" (did you mean " .. close .. "?)") or "", service))
end

local function decode_params(text)
  if text == nil then return {} end
  local ok, params = pcall(cjson.decode, text)
  if not ok or type(params) ~= "table" or (next(params) ~= nil and #params > 0) then
    usage_error("the parameters must be one JSON object, such as '{\"Name\": \"x\"}'; got " .. text)
  end
  return params
end

-- Returns true when OUTPUT (of an SSM read) has a SecureString parameter.
local function has_secure_string(output)
  if type(output) ~= "table" then return false end
  local list = type(output.Parameters) == "table" and output.Parameters or {}
  for _, p in ipairs({ output.Parameter, table.unpack(list) }) do
    if type(p) == "table" and p.Type == "SecureString" then return true end
  end
  return false
end

local function output_shape(m, operation)
  local op = m:operation(operation)
  return op and op.output and m:shape(op.output.shape)
end

function M.main(args)
  local options, positional = cli.parse_args(args, OPTIONS, "aws")
  local model = require("aws.model")
  local service = positional[1]
  if not service then
    usage_error("missing SERVICE; one of " .. table.concat(model.services(), ", "))
  end
  local ok, canonical = pcall(model.canonical_name, service)
  if not ok then usage_error(tostring(canonical)) end
  if not positional[2] then return list_operations(canonical) end
  if positional[4] then usage_error("unexpected argument " .. positional[4]) end
  local operation = positional[2]:gsub("%-", "_")
  local params = decode_params(positional[3])
  local client = require("aws").client{ region = options.region, profile = options.profile,
                                        endpoint_url = options.endpoint_url }
  local svc = client[canonical]
  if not svc.model:operation(operation) then unknown_operation(service, svc.model, positional[2]) end
  local called, result = pcall(function() return svc[operation](params) end)
  if not called then
    if errors.is(result) then
      io.stderr:write(secret.redact("mnem aws: " .. tostring(result)), "\n")
      return cli.EXIT.failed
    end
    -- A misuse error names the Lua line that raised it, which is mnem's
    -- own code here, not anything the user wrote.
    usage_error((tostring(result):gsub("^[^%s:]+%.lua:%d+: ", "")))
  end
  -- NOTE: a SecureString read without WithDecryption is masked too, although
  -- AWS returns it encrypted. Emulators built on moto return "kms:KEY_ID:"
  -- followed by the plaintext there (moto's ssm backend, Parameter.encrypt),
  -- and mnem cannot tell which kind of endpoint sent the response.
  if canonical == "ssm" and params.WithDecryption ~= true and has_secure_string(result) then
    io.stderr:write("mnem aws: note: SecureString values are masked; without WithDecryption they are the"
      .. " encrypted values, not the plaintext\n")
  end
  local shape = output_shape(svc.model, operation)
  if options.query then
    local searched, value = pcall(require("jmespath").search, options.query, result)
    if not searched then usage_error("--query: " .. tostring(value)) end
    result, shape = value, nil
  end
  -- Secrets are masked in the values before they are encoded, because
  -- this printer escapes differently from cjson (it leaves "/" alone). A
  -- secret with a "/" and a quote or newline would then match no encoded
  -- form that secret.mark registers. The text is masked again after.
  io.stdout:write(secret.redact(M.to_json(secret.redact_value(result), svc.model, shape)), "\n")
  return cli.EXIT.ok
end

return M

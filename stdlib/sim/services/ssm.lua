-- sim.services.ssm: the simulated SSM Parameter Store.
--
-- Parameters keep every version. A SecureString read without
-- WithDecryption returns a base64 ciphertext-like blob derived from the
-- value, never the value itself, and every SecureString value is marked
-- secret so the request log masks it.
--
-- Scenario section (optional):
--   ssm = { parameters = { { name = "/app/db/host", value = "127.0.0.1", type = "String" },
--                          { name = "/app/db/password", value = "...", type = "SecureString" } } }
-- `type` defaults to String; `key_id`, `description`, `tier` and
-- `data_type` are optional. Every parameter needs a string or number value.
local common = require("sim.services.common")
local secret = require("mnem.secret")

local M = {}

M.model = "ssm"

local TYPES = { String = true, StringList = true, SecureString = true }
local MAX_VALUE = { Standard = 4096, Advanced = 8192, ["Intelligent-Tiering"] = 8192 }

local function state(world)
  return common.state(world, "ssm")
end

local function arn_of(region, account, name)
  local path = name:sub(1, 1) == "/" and name:sub(2) or name
  return common.arn("ssm", region, account, "parameter/" .. path)
end

-- Returns a stable ciphertext-looking blob for VALUE: a KMS-style header
-- followed by VALUE's bytes mixed with a keystream, base64-encoded.
local function ciphertext(value, key_id, version)
  local seed = 0
  for i = 1, #key_id do seed = (seed * 31 + key_id:byte(i)) % 2147483647 end
  seed = (seed + version * 7919) % 2147483647
  local out = { "\1\2\2\0\120" }
  for _ = 1, 32 do
    seed = (seed * 48271) % 2147483647
    out[#out + 1] = string.char(seed % 256)
  end
  for i = 1, #value do
    seed = (seed * 48271) % 2147483647
    out[#out + 1] = string.char(value:byte(i) ~ (seed % 256))
  end
  return common.base64(table.concat(out))
end

local function check_name(ctx, name)
  if type(name) ~= "string" or name == "" then
    ctx.fail("ValidationException", "1 validation error detected: Value at 'name' failed to satisfy constraint: "
      .. "Member must have length greater than or equal to 1", 400)
  end
  local bare = name:gsub("^/", ""):lower()
  if bare:find("^aws") or bare:find("^ssm") then
    ctx.fail("ValidationException", "No access to reserved parameter name: " .. name .. ".", 400)
  end
  if name:find("/", 1, true) and name:sub(1, 1) ~= "/" then
    ctx.fail("ValidationException", "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). "
      .. "If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as "
      .. "a mix of letters, numbers and the following 3 symbols .-_", 400)
  end
  if not name:match("^[%w%.%-_/]+$") or name:find("//", 1, true) then
    ctx.fail("ValidationException", "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). "
      .. "If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as "
      .. "a mix of letters, numbers and the following 3 symbols .-_", 400)
  end
end

-- Stores a new version of parameter NAME; returns the version record.
local function put(world, region, name, fields)
  local st = state(world)
  local param = st.params[name]
  if not param then
    param = { name = name, versions = {}, arn = arn_of(region, world.account, name) }
    st.params[name] = param
  end
  local record = {
    version = #param.versions + 1,
    value = fields.value,
    type = fields.type,
    key_id = fields.type == "SecureString" and (fields.key_id or "alias/aws/ssm") or nil,
    description = fields.description,
    tier = fields.tier or "Standard",
    data_type = fields.data_type or "text",
    modified = world:now(),
    user = fields.user,
    labels = {},
  }
  if record.type == "SecureString" then secret.mark(record.value) end
  param.versions[#param.versions + 1] = record
  param.current = record
  return record
end

-- Splits "name:version" or "name:label"; returns the name and selector.
local function split_selector(name)
  local base, selector = name:match("^(.-):([^:/]+)$")
  if base and base ~= "" then return base, selector end
  return name, nil
end

-- Returns the record of parameter NAME (with an optional :version or
-- :label selector), or nil.
local function lookup(world, name)
  local base, selector = split_selector(name)
  local param = state(world).params[base]
  if not param then return nil end
  if not selector then return param, param.current end
  local n = math.tointeger(tonumber(selector))
  if n then return param, param.versions[n] end
  for _, v in ipairs(param.versions) do
    for _, label in ipairs(v.labels) do if label == selector then return param, v end end
  end
  return param, nil
end

local function parameter_output(param, record, decrypt, selector)
  local value = record.value
  if record.type == "SecureString" and not decrypt then
    value = ciphertext(record.value, record.key_id, record.version)
  end
  return {
    Name = param.name,
    Type = record.type,
    Value = value,
    Version = record.version,
    Selector = selector,
    LastModifiedDate = record.modified,
    ARN = param.arn,
    DataType = record.data_type,
  }
end

local function metadata_output(param)
  local r = param.current
  return {
    Name = param.name,
    ARN = param.arn,
    Type = r.type,
    KeyId = r.key_id,
    LastModifiedDate = r.modified,
    LastModifiedUser = r.user,
    Description = r.description,
    Version = r.version,
    Tier = r.tier,
    Policies = {},
    DataType = r.data_type,
  }
end

local function user_arn(ctx)
  return common.arn("iam", "", ctx.world.account, "user/" .. (common.access_key_id(ctx) or "mnem-sim"))
end

M.operations = {}

--- PutParameter: creates a parameter or, with Overwrite, a new version.
function M.operations.PutParameter(ctx, input)
  local name = input.Name
  check_name(ctx, name)
  if input.Value == nil then
    ctx.fail("ValidationException", "1 validation error detected: Value at 'value' failed to satisfy constraint: "
      .. "Member must not be null", 400)
  end
  local param = state(ctx.world).params[name]
  if param and not input.Overwrite then
    ctx.fail("ParameterAlreadyExists",
      "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.", 400)
  end
  local kind = input.Type or (param and param.current.type)
  if not kind then
    ctx.fail("ValidationException", "A parameter type is required when you create a parameter.", 400)
  end
  if not TYPES[kind] then
    ctx.fail("ValidationException", ("1 validation error detected: Value '%s' at 'type' failed to satisfy "
      .. "constraint: Member must satisfy enum value set: [SecureString, StringList, String]"):format(kind), 400)
  end
  local tier = input.Tier or (param and param.current.tier) or "Standard"
  if #input.Value > (MAX_VALUE[tier] or 4096) then
    ctx.fail("ValidationException", ("Standard tier parameters support a maximum parameter value of %d characters. "
      .. "To create a larger parameter value, upgrade the parameter to use the advanced-parameters tier.")
      :format(MAX_VALUE.Standard), 400)
  end
  if input.KeyId and kind ~= "SecureString" then
    ctx.fail("ValidationException", "KeyId is required for SecureString type parameter only.", 400)
  end
  if param and #param.versions >= 100 then
    ctx.fail("ParameterMaxVersionLimitExceeded", "You attempted to create a new version of " .. name
      .. " by calling the PutParameter API with the overwrite flag. Version 100, the oldest version, can't be "
      .. "deleted because it has a label associated with it.", 400)
  end
  local record = put(ctx.world, common.region(ctx), name, {
    value = input.Value, type = kind, key_id = input.KeyId or (param and param.current.key_id),
    description = input.Description or (param and param.current.description),
    tier = tier, data_type = input.DataType or "text", user = user_arn(ctx),
  })
  return { Version = record.version, Tier = record.tier }
end

local function not_found(ctx, name)
  local base, selector = split_selector(name)
  if selector and state(ctx.world).params[base] then
    ctx.fail("ParameterVersionNotFound", ("Systems Manager could not find version %s of %s. Verify the version "
      .. "and try again."):format(selector, base), 400)
  end
  ctx.fail("ParameterNotFound", "", 400)
end

--- GetParameter: one parameter (optionally NAME:VERSION or NAME:LABEL).
function M.operations.GetParameter(ctx, input)
  local name = input.Name or ""
  local param, record = lookup(ctx.world, name)
  if not record then not_found(ctx, name) end
  local _, selector = split_selector(name)
  return { Parameter = parameter_output(param, record, input.WithDecryption, selector and (":" .. selector)) }
end

--- GetParameters: up to 10 names; unknown names go to InvalidParameters.
function M.operations.GetParameters(ctx, input)
  local names = input.Names or {}
  if #names == 0 or #names > 10 then
    ctx.fail("ValidationException", "1 validation error detected: Value at 'names' failed to satisfy constraint: "
      .. "Member must have length less than or equal to 10", 400)
  end
  local found, invalid, seen = {}, {}, {}
  for _, name in ipairs(names) do
    if not seen[name] then
      seen[name] = true
      local param, record = lookup(ctx.world, name)
      if record then
        local _, selector = split_selector(name)
        found[#found + 1] = parameter_output(param, record, input.WithDecryption, selector and (":" .. selector))
      else
        invalid[#invalid + 1] = name
      end
    end
  end
  return { Parameters = found, InvalidParameters = invalid }
end

-- Returns true when parameter PARAM passes the ParameterFilters list
-- (keys Type, KeyId, Name, Path, Label, DataType, Tier; options Equals,
-- BeginsWith, Contains, Recursive, OneLevel).
local function passes_filters(ctx, param, filters)
  for _, f in ipairs(filters or {}) do
    local key, option, values = f.Key, f.Option or "Equals", f.Values or {}
    local r = param.current
    local subject
    if key == "Type" then subject = r.type
    elseif key == "KeyId" then subject = r.key_id
    elseif key == "Name" then subject = param.name
    elseif key == "DataType" then subject = r.data_type
    elseif key == "Tier" then subject = r.tier
    elseif key == "Path" then subject = param.name
    elseif key == "Label" then subject = table.concat(r.labels, ",")
    else
      ctx.fail("InvalidFilterKey", ("The following filter key is not valid: %s"):format(tostring(key)), 400)
    end
    local any = false
    for _, v in ipairs(values) do
      if key == "Path" then
        local prefix = v:sub(-1) == "/" and v or (v .. "/")
        if common.starts_with(param.name, prefix) then
          any = option == "Recursive" or not param.name:sub(#prefix + 1):find("/", 1, true)
        end
      elseif key == "Name" and v:sub(1, 1) ~= "/" and subject:sub(1, 1) == "/" and option ~= "Contains" then
        any = any or subject == "/" .. v or (option == "BeginsWith" and common.starts_with(subject, "/" .. v))
      elseif option == "Equals" then any = any or subject == v
      elseif option == "BeginsWith" then any = any or common.starts_with(subject, v)
      elseif option == "Contains" then any = any or (subject ~= nil and subject:find(v, 1, true) ~= nil)
      else
        ctx.fail("InvalidFilterOption", ("The filter option is not valid: %s"):format(tostring(option)), 400)
      end
      if any then break end
    end
    if not any then return false end
  end
  return true
end

local function sorted_params(world)
  return common.sorted_values(state(world).params)
end

local function check_max(ctx, value, maximum)
  if value ~= nil and (value < 1 or value > maximum) then
    ctx.fail("ValidationException", ("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy "
      .. "constraint: Member must have value less than or equal to %d"):format(value, maximum), 400)
  end
end

--- GetParametersByPath: parameters under Path (one level, or all with
-- Recursive), filtered and paginated (MaxResults at most 10).
function M.operations.GetParametersByPath(ctx, input)
  local path = input.Path or ""
  if path:sub(1, 1) ~= "/" then
    ctx.fail("ValidationException", "The parameter doesn't meet the parameter name requirements. The parameter "
      .. "name must begin with a forward slash \"/\".", 400)
  end
  check_max(ctx, input.MaxResults, 10)
  local prefix = path:sub(-1) == "/" and path or (path .. "/")
  local matching = {}
  for _, param in ipairs(sorted_params(ctx.world)) do
    if common.starts_with(param.name, prefix) then
      local rest = param.name:sub(#prefix + 1)
      if (input.Recursive or not rest:find("/", 1, true)) and passes_filters(ctx, param, input.ParameterFilters) then
        matching[#matching + 1] = parameter_output(param, param.current, input.WithDecryption)
      end
    end
  end
  local page, token = common.page(matching, input.NextToken, input.MaxResults or 10)
  if not page then ctx.fail("ValidationException", "The next token is not valid.", 400) end
  return { Parameters = page, NextToken = token }
end

--- DeleteParameter: removes a parameter and all its versions.
function M.operations.DeleteParameter(ctx, input)
  local st = state(ctx.world)
  if not st.params[input.Name or ""] then ctx.fail("ParameterNotFound", "", 400) end
  st.params[input.Name] = nil
  return {}
end

--- DeleteParameters: removes up to 10 parameters; unknown ones are listed.
function M.operations.DeleteParameters(ctx, input)
  local st = state(ctx.world)
  local deleted, invalid = {}, {}
  for _, name in ipairs(input.Names or {}) do
    if st.params[name] then
      st.params[name] = nil
      deleted[#deleted + 1] = name
    else
      invalid[#invalid + 1] = name
    end
  end
  return { DeletedParameters = deleted, InvalidParameters = invalid }
end

--- DescribeParameters: parameter metadata, with ParameterFilters or the
-- older Filters (Name/Type/KeyId, BeginsWith-style), paginated (at most 50).
function M.operations.DescribeParameters(ctx, input)
  check_max(ctx, input.MaxResults, 50)
  local filters = common.copy(input.ParameterFilters or {})
  for _, f in ipairs(input.Filters or {}) do
    filters[#filters + 1] = { Key = f.Key, Option = f.Key == "Name" and "BeginsWith" or "Equals", Values = f.Values }
  end
  local matching = {}
  for _, param in ipairs(sorted_params(ctx.world)) do
    if passes_filters(ctx, param, filters) then matching[#matching + 1] = metadata_output(param) end
  end
  local page, token = common.page(matching, input.NextToken, input.MaxResults or 50)
  if not page then ctx.fail("InvalidNextToken", "The specified token isn't valid.", 400) end
  return { Parameters = page, NextToken = token }
end

--- GetParameterHistory: every version of a parameter, oldest first.
function M.operations.GetParameterHistory(ctx, input)
  local param = state(ctx.world).params[input.Name or ""]
  if not param then ctx.fail("ParameterNotFound", "", 400) end
  local out = {}
  for _, r in ipairs(param.versions) do
    local item = parameter_output(param, r, input.WithDecryption)
    item.ARN, item.Selector = nil, nil
    item.KeyId, item.Description, item.Tier = r.key_id, r.description, r.tier
    item.LastModifiedUser, item.Labels, item.Policies = r.user, common.copy(r.labels), {}
    out[#out + 1] = item
  end
  local page, token = common.page(out, input.NextToken, input.MaxResults or 50)
  if not page then ctx.fail("InvalidNextToken", "The specified token isn't valid.", 400) end
  return { Parameters = page, NextToken = token }
end

--- Returns the plain current value of parameter NAME, or nil; for other
-- simulated services (ECS tasks read their database settings here).
function M.value(world, name)
  local param = state(world).params[name]
  return param and param.current.value
end

--- Sets up Parameter Store from the scenario's `ssm` SECTION.
function M.init(world, section)
  local st = state(world)
  st.params = {}
  local region = world.region or "us-east-1"
  common.scenario_table("ssm", section, { "parameters" })
  local tiers = {}
  for tier in pairs(MAX_VALUE) do tiers[#tiers + 1] = tier end
  table.sort(tiers)
  local types = common.sorted_keys(TYPES)
  for i, p in ipairs(common.scenario_list("ssm.parameters", (section or {}).parameters)) do
    local where = ("ssm.parameters[%d]"):format(i)
    common.scenario_table(where, p, { "name", "value", "type", "key_id", "description", "tier", "data_type" })
    common.scenario_value(where .. ".name", p.name, "string")
    local function key(name) return ("%s.%s (parameter %s)"):format(where, name, p.name) end
    common.scenario_value(key("value"), p.value, "string or number")
    common.scenario_enum(key("type"), p.type, types)
    common.scenario_enum(key("tier"), p.tier, tiers)
    for _, name in ipairs({ "key_id", "description", "data_type" }) do
      common.scenario_value(key(name), p[name], "string", true)
    end
    if #tostring(p.value) > MAX_VALUE[p.tier or "Standard"] then
      common.scenario_fail(key("value"), ("is longer than the %d bytes of the %s tier"):format(
        MAX_VALUE[p.tier or "Standard"], p.tier or "Standard"))
    end
    put(world, region, p.name, {
      value = tostring(p.value), type = p.type or "String", key_id = p.key_id, description = p.description,
      tier = p.tier, data_type = p.data_type, user = common.arn("iam", "", world.account, "user/scenario"),
    })
  end
end

return M

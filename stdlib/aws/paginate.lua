-- aws.paginate: following an operation's pages, as the model's paginators
-- describe them.
--
-- A paginator (botocore's paginators-1.json) names the input token(s), the
-- output token(s) that carry the next page's token, optionally more_results
-- (a boolean member that is false on the last page), limit_key (the
-- page size parameter) and result_key (the list(s) a page contains). Token
-- and result paths may be dotted ("EngineDefaults.Marker"). Both functions
-- make network calls through the service's operation, so each page is
-- validated, retried and recorded like any call.
local misuse = require("mnem.misuse")

local M = {}

local function as_list(value)
  if value == nil then return {} end
  if type(value) == "table" then return value end
  return { value }
end

local function get_path(value, path)
  for part in path:gmatch("[^.]+") do
    if type(value) ~= "table" then return nil end
    value = value[part]
  end
  return value
end

local function set_path(value, path, new)
  local parts = {}
  for part in path:gmatch("[^.]+") do parts[#parts + 1] = part end
  for i = 1, #parts - 1 do
    if type(value[parts[i]]) ~= "table" then value[parts[i]] = {} end
    value = value[parts[i]]
  end
  value[parts[#parts]] = new
end

local function paginator_of(svc, operation)
  local op = svc.model:operation(operation)
  if not op then
    misuse.raise(("aws.%s.paginate: unknown operation %s"):format(svc.name, tostring(operation)), 3)
  end
  local config = svc.model.paginators and svc.model.paginators[op.name]
  if not config then
    misuse.raise(("aws.%s.paginate: operation %s cannot be paginated (the model has no paginator for it)"):format(
      svc.name, op.name), 3)
  end
  return op.name, config
end

--- Returns the paginator of OPERATION (snake case or AWS name) of service
-- object SVC: { input_token = list, output_token = list, more_results,
-- limit_key, result_key = list }. Raises when it has none.
function M.paginator(svc, operation)
  local name, config = paginator_of(svc, operation)
  return {
    operation = name,
    input_token = as_list(config.input_token),
    output_token = as_list(config.output_token),
    more_results = config.more_results,
    limit_key = config.limit_key,
    result_key = as_list(config.result_key),
  }
end

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

local function token_key(tokens)
  local parts = {}
  for i, v in ipairs(tokens) do parts[i] = tostring(v) end
  return table.concat(parts, "\0")
end

--- Returns an iterator over the pages (output tables) of OPERATION called
-- with PARAMS on service SVC: `for page in aws.logs.paginate("filter_log_events",
-- p) do ... end`. OPTIONS: { max_pages = n }. A page that returns a token
-- already seen raises an error (kind "aws", code "RepeatedPaginationToken")
-- instead of looping forever.
function M.pages(svc, operation, params, options)
  if params ~= nil and type(params) ~= "table" then
    error(("aws.%s.paginate: expected a parameter table, got %s"):format(svc.name, type(params)), 2)
  end
  options = options or {}
  for key in pairs(options) do
    if key ~= "max_pages" then
      error(("aws.%s.paginate: unknown option %s (valid: max_pages)"):format(svc.name, tostring(key)), 2)
    end
  end
  local p = M.paginator(svc, operation)
  local fn = svc[p.operation]
  local request = copy(params)
  local seen, done, count = {}, false, 0
  local first_tokens = {}
  for i, name in ipairs(p.input_token) do first_tokens[i] = request[name] end
  if #first_tokens > 0 then seen[token_key(first_tokens)] = true end
  return function()
    if done then return nil end
    if options.max_pages and count >= options.max_pages then return nil end
    local page = fn(request)
    count = count + 1
    -- A dry-run placeholder has no real token: it is the only page.
    if require("mnem.dryrun").is_unknown(page) then
      done = true
      return page
    end
    local tokens, any = {}, false
    for i, path in ipairs(p.output_token) do
      tokens[i] = get_path(page, path)
      if tokens[i] ~= nil and tokens[i] ~= "" then any = true end
    end
    local more = any
    if p.more_results and not get_path(page, p.more_results) then more = false end
    if not more then
      done = true
      return page
    end
    local key = token_key(tokens)
    if seen[key] then
      error(require("aws.errors").client_error("RepeatedPaginationToken",
        ("aws.%s.%s returned the same pagination token twice (page %d); stopping instead of looping"):format(
          svc.name, p.operation, count), { service = svc.name, operation = p.operation }), 0)
    end
    seen[key] = true
    request = copy(request)
    for i, name in ipairs(p.input_token) do request[name] = tokens[i] end
    return page
  end
end

--- Calls every page of OPERATION and returns one result: the first page's
-- members, with each result_key list replaced by the concatenation of that
-- list over all pages, and the output tokens removed.
function M.get_all(svc, operation, params, options)
  local p = M.paginator(svc, operation)
  local result
  for page in M.pages(svc, operation, params, options) do
    if not result then
      result = page
      for _, key in ipairs(p.result_key) do
        local list = {}
        for _, v in ipairs(get_path(page, key) or {}) do list[#list + 1] = v end
        set_path(result, key, list)
      end
    else
      for _, key in ipairs(p.result_key) do
        local list = get_path(result, key)
        for _, v in ipairs(get_path(page, key) or {}) do list[#list + 1] = v end
      end
    end
  end
  for _, path in ipairs(p.output_token) do
    if get_path(result, path) ~= nil then set_path(result, path, nil) end
  end
  return result
end

return M

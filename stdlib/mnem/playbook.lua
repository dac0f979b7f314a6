-- mnem.playbook: loading and validating playbook files.
--
-- A playbook file is Lua run in its own environment: the normal Lua globals
-- plus the DSL (`playbook`, `step`, `group`) and the primitives (`aws`, `pg`,
-- `http`, `exec`, `wait`, `sleep`, `log`, `json`, `secret`, `jmespath`,
-- `vars`), each loaded on first use. `check` runs the file and collects
-- every DSL mistake, each naming the file and line of the `step`/`group`
-- call or of the playbook's own field, so `mnem check` and `mnem run` list
-- them all before any step runs. Variables are resolved separately by
-- `resolve_vars`, once the command line is known.
local duration = require("mnem.duration")
local misuse = require("mnem.misuse")
local paths = require("mnem.paths")
local retry = require("mnem.retry")
local secret = require("mnem.secret")
local source_lines = require("mnem.source_lines")

local M = {}

local STEP_FIELDS = { "run", "already_done", "rollback", "retry", "timeout", "tags", "description", "always", "when" }
local GROUP_FIELDS = { "steps", "retry", "timeout", "tags", "description", "always", "when" }
local PLAYBOOK_FIELDS = { "name", "description", "vars", "deadline", "retry", "follow_up", "steps" }
local VAR_FIELDS = { "type", "default", "choices", "min", "max", "description", "required" }
local VAR_TYPES = { "string", "integer", "number", "boolean", "duration", "path", "list", "secret" }

local FUNCTION_FIELDS = { run = true, already_done = true, rollback = true, when = true }

local function set_of(list)
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  return set
end

local STEP_SET, GROUP_SET = set_of(STEP_FIELDS), set_of(GROUP_FIELDS)
local PLAYBOOK_SET, VAR_SET, TYPE_SET = set_of(PLAYBOOK_FIELDS), set_of(VAR_FIELDS), set_of(VAR_TYPES)

-- The mistakes found by the `check` in progress, or nil outside one. While
-- it is set, `fail` records each mistake and validation goes on, so one
-- pass finds them all. Without it `fail` raises, as for DSL calls made
-- outside `check` and `load`.
local problems = nil

-- Records (or raises) "FILE:LINE: WHAT: MESSAGE" for NODE, or
-- "FILE:LINE: MESSAGE" when NODE has no `what`, and returns nil, so
-- callers can write `return fail(...)`. LINE is that of the field NODE.keys
-- leads to when NODE.locate (see field_node) finds it, else NODE.line.
local function fail(node, message)
  local line = node.locate and node.locate(node.keys) or node.line
  local text = node.what and ("%s:%d: %s: %s"):format(node.source, line, node.what, message)
    or ("%s:%d: %s"):format(node.source, line, message)
  if not problems then error(text, 0) end
  problems[#problems + 1] = { source = node.source, line = line, text = text }
  return nil
end

-- Returns the node standing for field KEY of NODE's definition, so that
-- `fail` reports the line of that field. Step and group nodes have no
-- `locate`: their mistakes are reported at the `step`/`group` call, which
-- is near their fields, so this returns NODE itself.
local function field_node(node, key)
  if not node.locate then return node end
  local keys = table.move(node.keys, 1, #node.keys, 1, {})
  keys[#keys + 1] = key
  return { source = node.source, line = node.line, what = node.what, locate = node.locate, keys = keys }
end

-- Reports every key of DEF that is not a field of this KIND of definition,
-- in sorted order, with the closest valid name when there is one.
local function check_unknown_keys(node, def, allowed_set, allowed_list, kind)
  local unknown = {}
  for key in pairs(def) do
    if type(key) ~= "string" or not allowed_set[key] then unknown[#unknown + 1] = key end
  end
  table.sort(unknown, function(a, b) return tostring(a) < tostring(b) end)
  for _, key in ipairs(unknown) do
    if type(key) ~= "string" then
      fail(field_node(node, key), ("%s definition must have only named fields, found a %s key"):format(kind,
        type(key)))
    else
      local hint = retry.closest(key, allowed_list)
      fail(field_node(node, key), ("unknown %s field %q%s"):format(kind, key,
        hint and (" (did you mean %q?)"):format(hint) or ""))
    end
  end
end

-- Returns whether DEF[KEY] is nil or of type EXPECTED; reports it if not.
local function check_type(node, def, key, expected)
  local value = def[key]
  if value ~= nil and type(value) ~= expected then
    fail(field_node(node, key), ("field %q must be a %s, got a %s"):format(key, expected, type(value)))
    return false
  end
  return true
end

local function parse_duration_field(node, def, key)
  if def[key] == nil then return nil end
  local seconds, message = duration.try_parse(def[key])
  if not seconds then return fail(field_node(node, key), ("field %q: %s"):format(key, message)) end
  return seconds
end

-- Returns the normalized retry policy of DEF, or nil. retry.normalize stops
-- at the first mistake, so the retriers of a list are also checked one by
-- one to report a mistake in each.
local function parse_retry_field(node, def)
  if def.retry == nil then return nil end
  local ok, result = pcall(retry.normalize, def.retry, "retry")
  if ok then return result end
  local found = 0
  local field = field_node(node, "retry")
  if type(def.retry) == "table" and def.retry[1] ~= nil then
    for i, raw in ipairs(def.retry) do
      local fine, message = pcall(retry.normalize, { raw }, "retry")
      if not fine then
        found = found + 1
        fail(field_node(field, i), (tostring(message):gsub("^retry%[1%]", ("retry[%d]"):format(i))))
      end
    end
  end
  if found == 0 then fail(field, tostring(result)) end
  return nil
end

local function parse_tags(node, def)
  local tags = def.tags
  if tags == nil then return {} end
  if type(tags) == "string" then return { tags } end
  if type(tags) ~= "table" then
    fail(node, ("field \"tags\" must be a list of strings, got a %s"):format(type(tags)))
    return {}
  end
  local valid = {}
  for i, tag in ipairs(tags) do
    if type(tag) ~= "string" then
      fail(node, ("tags[%d] must be a string, got a %s"):format(i, type(tag)))
    else
      valid[#valid + 1] = tag
    end
  end
  return valid
end

-- Returns the file and line of the DSL call LEVEL levels up the stack.
local function call_site(level)
  local info = debug.getinfo(level + 1, "Sl")
  if not info then return "?", 0 end
  local source = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
  return source, info.currentline or 0
end

-- A node standing for a step or group whose name was invalid. Calling it
-- with the field table returns itself, so both `step { ... }` and
-- `step(nil) { ... }` leave one node in the list and no further mistake.
local broken_node_mt = { __call = function(self) return self end }

-- Returns nil when NAME is a valid name, else reports the mistake at the
-- call site LEVEL levels up and returns a broken node of KIND.
local function check_name(name, kind, level)
  if type(name) == "string" and name ~= "" then return nil end
  local source, line = call_site(level + 1)
  fail({ source = source, line = line }, ("%s needs a name: write %s \"Name\" { ... }, got %s")
    :format(kind, kind, type(name) == "string" and "an empty string" or ("a " .. type(name))))
  return setmetatable({ kind = kind, broken = true, tags = {}, steps = {}, source = source, line = line },
    broken_node_mt)
end

-- Returns whether DEF is a table; reports the mistake if not.
local function check_definition(def, node, kind)
  if type(def) == "table" then return true end
  fail(node, ("expected a table of fields after %s %q, got a %s"):format(kind, node.name, type(def)))
  return false
end

--- The DSL function `step "Name" { fields }`: returns a validated step node.
function M.step(name)
  local broken = check_name(name, "step", 2)
  if broken then return broken end
  local source, line = call_site(2)
  return function(def)
    local node = { kind = "step", name = name, source = source, line = line, what = ("step %q"):format(name),
                   tags = {} }
    if not check_definition(def, node, "step") then return node end
    check_unknown_keys(node, def, STEP_SET, STEP_FIELDS, "step")
    local functions_ok = true
    for _, key in ipairs(STEP_FIELDS) do
      if FUNCTION_FIELDS[key] then functions_ok = check_type(node, def, key, "function") and functions_ok end
    end
    if def.run == nil then fail(node, "missing field \"run\": a step needs run = function(ctx) ... end") end
    check_type(node, def, "description", "string")
    check_type(node, def, "always", "boolean")
    if functions_ok then
      node.run, node.already_done, node.rollback, node.when = def.run, def.already_done, def.rollback, def.when
    end
    node.description, node.always = def.description, def.always == true
    node.timeout = parse_duration_field(node, def, "timeout")
    node.retry = parse_retry_field(node, def)
    node.tags = parse_tags(node, def)
    return node
  end
end

local validate_steps

--- The DSL function `group "Name" { steps = {...}, retry = ... }`: returns a
-- validated group node whose steps are retried together.
function M.group(name)
  local broken = check_name(name, "group", 2)
  if broken then return broken end
  local source, line = call_site(2)
  return function(def)
    local node = { kind = "group", name = name, source = source, line = line, what = ("group %q"):format(name),
                   tags = {}, steps = {} }
    if not check_definition(def, node, "group") then return node end
    check_unknown_keys(node, def, GROUP_SET, GROUP_FIELDS, "group")
    check_type(node, def, "description", "string")
    check_type(node, def, "always", "boolean")
    check_type(node, def, "when", "function")
    if type(def.steps) ~= "table" then
      fail(node, ("field \"steps\" must be a list of steps, got a %s"):format(type(def.steps)))
    else
      node.steps = validate_steps(node, def.steps)
    end
    node.description, node.always, node.when = def.description, def.always == true, def.when
    node.timeout = parse_duration_field(node, def, "timeout")
    node.retry = parse_retry_field(node, def)
    node.tags = parse_tags(node, def)
    return node
  end
end

-- Reports every entry of LIST, the steps of PARENT, that is not a step or
-- group node, and returns the nodes that are.
validate_steps = function(parent, list)
  local field = field_node(parent, "steps")
  local count = 0
  for _ in pairs(list) do count = count + 1 end
  if count ~= #list then fail(field, "field \"steps\" must be a list (no named keys, no holes)") end
  local nodes = {}
  for i, node in ipairs(list) do
    if type(node) == "function" then
      fail(field_node(field, i),
        ("steps[%d] is a function: add the field table after the name, as in step \"Name\" { run = ... }"):format(i))
    elseif type(node) ~= "table" or (node.kind ~= "step" and node.kind ~= "group") then
      fail(field_node(field, i),
        ("steps[%d] must be made with step \"Name\" { ... } or group \"Name\" { ... }, got a %s"):format(i, type(node)))
    else
      nodes[#nodes + 1] = node
    end
  end
  return nodes
end

local function check_unique_names(pb)
  local seen = {}
  local function walk(list)
    for _, node in ipairs(list) do
      local earlier = node.name and seen[node.name]
      if earlier then
        fail(node, ("duplicate name: %s %q is already defined at line %d; step and group names must be unique")
          :format(earlier.kind, node.name, earlier.line))
      elseif node.name then
        seen[node.name] = node
      end
      if node.kind == "group" then walk(node.steps) end
    end
  end
  walk(pb.steps)
end

-- Converts RAW, a default or a text from the command line or environment,
-- to the type of variable SPEC. Returns the value, or nil and a message.
local function convert_var(spec, raw, from_text)
  local t = spec.type
  if t == "string" or t == "path" or t == "secret" then
    if type(raw) ~= "string" then return nil, "expected a string, got a " .. type(raw) end
    return raw
  elseif t == "integer" or t == "number" then
    local n = from_text and tonumber(raw) or raw
    local shown = from_text and ("%q"):format(raw) or tostring(raw)
    if type(n) ~= "number" then
      return nil, ("expected %s, got %s"):format(t == "integer" and "an integer" or "a number",
        from_text and shown or ("a " .. type(raw)))
    end
    if t == "integer" then
      n = math.tointeger(n)
      if not n then return nil, ("expected an integer, got %s"):format(shown) end
    end
    return n
  elseif t == "boolean" then
    if type(raw) == "boolean" then return raw end
    local text = type(raw) == "string" and raw:lower() or nil
    if text == "true" or text == "yes" or text == "1" or text == "on" then return true end
    if text == "false" or text == "no" or text == "0" or text == "off" then return false end
    return nil, ("expected true or false (or yes/no, 1/0, on/off), got %q"):format(tostring(raw))
  elseif t == "duration" then
    return duration.try_parse(raw)
  elseif t == "list" then
    if type(raw) == "table" then return raw end
    if type(raw) ~= "string" then return nil, "expected a comma-separated list, got a " .. type(raw) end
    local items = {}
    for item in raw:gmatch("[^,]+") do
      item = item:match("^%s*(.-)%s*$")
      if item ~= "" then items[#items + 1] = item end
    end
    return items
  end
  return nil, "unknown type " .. tostring(t)
end

local function check_bounds(spec, value)
  local items = spec.type == "list" and value or { value }
  if spec.choices then
    for _, item in ipairs(items) do
      local found = false
      for _, choice in ipairs(spec.choices) do if choice == item then found = true end end
      if not found then
        local names = {}
        for _, choice in ipairs(spec.choices) do names[#names + 1] = tostring(choice) end
        return ("%s is not one of the choices: %s"):format(spec.type == "secret" and "the value" or
          ("%q"):format(tostring(item)), table.concat(names, ", "))
      end
    end
  end
  if type(value) == "number" then
    if spec.min and value < spec.min then return ("%s is below the minimum %s"):format(tostring(value), spec.min) end
    if spec.max and value > spec.max then return ("%s is above the maximum %s"):format(tostring(value), spec.max) end
  end
  return nil
end

-- Returns the spec of variable NAME defined by RAW, after reporting every
-- mistake in it. A field with a mistake is left out of the spec, so no
-- mistake is reported twice.
local function validate_var(pb, name, raw)
  local node = field_node(field_node(pb, "vars"), name)
  node.what = ("variable %q"):format(tostring(name))
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    fail(node, "variable names must be identifiers (letters, digits and _)")
  end
  if type(raw) == "string" then raw = { type = raw } end
  if type(raw) ~= "table" then
    return fail(node, ("expected a table such as { type = \"string\" }, got a %s"):format(type(raw)))
  end
  check_unknown_keys(node, raw, VAR_SET, VAR_FIELDS, "variable")
  local spec = { name = name, type = raw.type or "string", description = raw.description, choices = raw.choices,
                 required = raw.required, default = raw.default }
  if not check_type(node, raw, "required", "boolean") then spec.required = nil end
  local valid = true
  if not TYPE_SET[spec.type] then
    local hint = retry.closest(tostring(spec.type), VAR_TYPES)
    fail(field_node(node, "type"), ("unknown type %q%s; types are %s"):format(tostring(spec.type),
      hint and (" (did you mean %q?)"):format(hint) or "", table.concat(VAR_TYPES, ", ")))
    valid = false
  end
  if spec.choices ~= nil and (type(spec.choices) ~= "table" or #spec.choices == 0) then
    fail(field_node(node, "choices"), "field \"choices\" must be a non-empty list")
    spec.choices, valid = nil, false
  end
  for _, key in ipairs({ "min", "max" }) do
    if raw[key] ~= nil then
      local value = spec.type == "duration" and duration.try_parse(raw[key]) or raw[key]
      if type(value) ~= "number" then
        fail(field_node(node, key), ("field %q must be a number, got %s"):format(key, tostring(raw[key])))
        valid = false
      else
        spec[key] = value
      end
    end
  end
  if spec.min and spec.max and spec.min > spec.max then
    fail(node, ("field \"min\" (%s) is above field \"max\" (%s), so no value is valid"):format(
      tostring(raw.min), tostring(raw.max)))
    valid = false
  end
  if spec.default ~= nil and valid then
    local value, message = convert_var(spec, spec.default, false)
    message = message or check_bounds(spec, value)
    if message then return fail(field_node(node, "default"), "invalid default: " .. message) end
    if spec.type == "path" and not value:match("^/") then
      value = paths.dirname(pb.path) .. "/" .. value
    end
    spec.value = value
  end
  return spec
end

local function validate_follow_up(pb, def)
  pb.follow_up = {}
  if def.follow_up == nil then return end
  local list = def.follow_up
  if type(list) == "string" then list = { list } end
  local field = field_node(pb, "follow_up")
  if type(list) ~= "table" then return fail(field, "field \"follow_up\" must be a list of strings") end
  for i, text in ipairs(list) do
    if type(text) ~= "string" then
      fail(field_node(field, i), ("follow_up[%d] must be a string, got a %s"):format(i, type(text)))
    else
      pb.follow_up[#pb.follow_up + 1] = text
    end
  end
end

local function validate_vars(pb, def)
  pb.var_specs, pb.var_order = {}, {}
  if def.vars == nil then return end
  if type(def.vars) ~= "table" then
    return fail(field_node(pb, "vars"), "field \"vars\" must be a table of variable definitions")
  end
  local names = {}
  for name in pairs(def.vars) do names[#names + 1] = name end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  for _, name in ipairs(names) do
    local spec = validate_var(pb, name, def.vars[name])
    if spec then
      pb.var_specs[name] = spec
      pb.var_order[#pb.var_order + 1] = name
    end
  end
end

local function validate_playbook(pb, def, path)
  if type(def.name) == "string" and def.name ~= "" then pb.what = ("playbook %q"):format(def.name) end
  check_unknown_keys(pb, def, PLAYBOOK_SET, PLAYBOOK_FIELDS, "playbook")
  if type(def.name) ~= "string" or def.name == "" then
    fail(pb, "missing field \"name\": a playbook needs a name = \"...\"")
  end
  check_type(pb, def, "description", "string")
  pb.name, pb.description, pb.path = def.name, def.description, path
  pb.steps = {}
  if type(def.steps) ~= "table" or #def.steps == 0 then
    fail(field_node(pb, "steps"), "field \"steps\" must be a non-empty list of steps")
  end
  if type(def.steps) == "table" then pb.steps = validate_steps(pb, def.steps) end
  check_unique_names(pb)
  pb.deadline = parse_duration_field(pb, def, "deadline")
  pb.retry = parse_retry_field(pb, def)
  validate_follow_up(pb, def)
  validate_vars(pb, def)
  return pb
end

-- Loaders for the primitives, run on a playbook's first use of each name.
local function optional_module(global, module)
  return function()
    local ok, value = pcall(require, module)
    if not ok then
      misuse.raise(("%s is not available in this build: module %q could not be loaded: %s")
        :format(global, module, tostring(value)), 0)
    end
    return value
  end
end

local function secret_table()
  return setmetatable({ mark = secret.mark, redact = secret.redact, is_secret = secret.is_secret },
    { __call = function(_, value) return secret.mark(value) end })
end

-- Returns a stand-in for library table MODULE, seen by playbooks as the
-- global NAME, that raises a misuse error naming the playbook line and the
-- closest name (`log.inf` -> "did you mean log.info?") when the playbook
-- reads a name MODULE does not have. Plain Lua would return nil and fail
-- later with "attempt to call a nil value". Calls, assignments and pairs
-- go to MODULE itself.
local function strict(name, make)
  return function()
    local module = make()
    if type(module) ~= "table" then return module end
    local meta = getmetatable(module)
    local stand_in = {
      __index = function(_, key)
        local value = module[key]
        if value ~= nil or type(key) ~= "string" then return value end
        local names = {}
        for known in pairs(module) do
          if type(known) == "string" then names[#names + 1] = known end
        end
        table.sort(names)
        local hint = retry.closest(key, names)
        misuse.raise(("unknown name %s.%s%s"):format(name, key,
          hint and (" (did you mean %s.%s?)"):format(name, hint) or ""), 2)
      end,
      __newindex = module,
      __pairs = function() return next, module, nil end,
    }
    if type(meta) == "table" and meta.__call then
      stand_in.__call = function(_, ...) return module(...) end
    end
    return setmetatable({}, stand_in)
  end
end

local LAZY = {
  aws = optional_module("aws", "aws"),
  pg = strict("pg", optional_module("pg", "pg")),
  http = strict("http", optional_module("http", "http")),
  exec = strict("exec", optional_module("exec", "mnem.exec")),
  wait = strict("wait", optional_module("wait", "mnem.wait")),
  jmespath = strict("jmespath", optional_module("jmespath", "jmespath")),
  log = strict("log", function() return require("mnem.log") end),
  json = strict("json", function()
    local cjson = require("cjson")
    return { encode = cjson.encode, decode = cjson.decode, null = cjson.null }
  end),
  secret = strict("secret", secret_table),
  duration = strict("duration", function() return require("mnem.duration") end),
  sleep = function() return require("mnem.engine").sleep end,
}

-- Returns the text file:write writes for VALUE: strings as they are,
-- integers in decimal and floats with "%.14g" (Lua 5.4's LUAI_NUMFFORMAT).
-- Returns nil for other types.
local function written_text(value)
  local kind = math.type(value)
  if kind == "float" then return ("%.14g"):format(value) end
  if kind == "integer" then return tostring(value) end
  if type(value) == "string" then return value end
  return nil
end

-- Returns the text of one write call's arguments PARTS (from table.pack),
-- joined so that a secret split across them is masked as a whole. Raises
-- like file:write for an argument that is not a string or a number.
local function masked_text(parts)
  local texts = {}
  for i = 1, parts.n do
    local text = written_text(parts[i])
    if text == nil then
      error(("bad argument #%d to 'write' (string expected, got %s)"):format(i, type(parts[i])), 3)
    end
    texts[i] = text
  end
  return secret.redact(table.concat(texts, "", 1, parts.n))
end

-- Returns the io table playbooks and their recipes see: Lua's io, in which
-- io.stdout and io.stderr are stand-ins whose write masks secrets like
-- print. io.write, io.output, io.input, io.close and io.type accept the
-- stand-ins and return them in place of the standard files, so
-- io.output():write masks too and io.output(io.stdout) restores the
-- terminal. Files the playbook opens itself are written as given. Output
-- written by mnem itself is not changed: its log masks on its own terms.
-- NOTE: _G.io is Lua's own io and does not mask, and neither do
-- os.execute and io.popen.
local function masked_io()
  local to_real, to_proxy = {}, {}

  local function masked_file(file)
    local proxy = {}
    local methods = {
      write = function(_, ...)
        local first, message, code = file:write(masked_text(table.pack(...)))
        if first == file then return proxy end
        return first, message, code
      end,
    }
    to_real[proxy], to_proxy[file] = file, proxy
    return setmetatable(proxy, {
      __index = function(_, key)
        local method = methods[key]
        if method then return method end
        local value = file[key]
        if type(value) ~= "function" then return value end
        return function(self, ...)
          if self == proxy then self = file end
          return value(self, ...)
        end
      end,
      __tostring = function() return tostring(file) end,
    })
  end

  local function real(value)
    return to_real[value] or value
  end

  local function proxied(value)
    return to_proxy[value] or value
  end

  local masked = {
    stdout = masked_file(io.stdout),
    stderr = masked_file(io.stderr),
    write = function(...) return proxied(io.output()):write(...) end,
    output = function(...)
      if select("#", ...) == 0 then return proxied(io.output()) end
      return proxied(io.output(real((...))))
    end,
    input = function(...)
      if select("#", ...) == 0 then return io.input() end
      return io.input(real((...)))
    end,
    close = function(...)
      if select("#", ...) == 0 then return io.close() end
      return io.close(real((...)))
    end,
    type = function(value) return io.type(real(value)) end,
  }
  return setmetatable(masked, { __index = io })
end

-- Returns the folders package.path searches, in order: the playbook's
-- folder, then those of MNEM_PATH (see mnem.paths).
local function search_folders()
  local folders, seen = {}, {}
  for template in package.path:gmatch("[^;]+") do
    local folder = template:match("^(.*)/%?%.lua$")
    if folder and not seen[folder] then
      seen[folder] = true
      folders[#folders + 1] = folder
    end
  end
  return folders
end

-- Adds to NAMES the modules of folder ROOT whose names start with PREFIX
-- (such as "recipes."), found in ROOT/PREFIX as FILE.lua and FILE/init.lua.
local function add_folder_modules(names, root, prefix)
  local sys = require("mnem._sys")
  local folder = root .. (prefix == "" and "" or "/" .. prefix:sub(1, -2):gsub("%.", "/"))
  for _, entry in ipairs(sys.list_dir(folder) or {}) do
    local module = entry:match("^(.+)%.lua$")
    if module then
      names[#names + 1] = prefix .. module
    elseif sys.stat(folder .. "/" .. entry .. "/init.lua") then
      names[#names + 1] = prefix .. entry
    end
  end
end

-- Returns the names of the modules a playbook can require near NAME: the
-- built-in library's and those in FOLDERS under NAME's own prefix.
local function module_names(name, folders)
  local names = {}
  for _, path in ipairs(require("mnem._embed").list("bytecode/")) do
    local module = path:match("^bytecode/(.+)%.lua$")
    if module then names[#names + 1] = (module:gsub("/init$", ""):gsub("/", ".")) end
  end
  for module in pairs(package.preload) do names[#names + 1] = module end
  local prefix = name:match("^(.*%.)[^.]*$") or ""
  for _, folder in ipairs(folders) do add_folder_modules(names, folder, prefix) end
  table.sort(names)
  return names
end

-- Splits module NAME into its prefix ("recipes.", or "" without a dot) and
-- its last part.
local function split_module(name)
  local prefix, last = name:match("^(.*%.)([^.]*)$")
  return prefix or "", last or name
end

-- Returns the name among NAMES that module NAME most likely misspells, or
-- nil. The prefix is matched first, then the last part among the modules
-- of that prefix, so "recipes.nowhere" suggests no unrelated recipe.
local function closest_module(name, names)
  local by_prefix, prefixes = {}, {}
  for _, known in ipairs(names) do
    local prefix, last = split_module(known)
    if not by_prefix[prefix] then
      by_prefix[prefix] = {}
      prefixes[#prefixes + 1] = prefix
    end
    table.insert(by_prefix[prefix], last)
  end
  local prefix, last = split_module(name)
  if not by_prefix[prefix] then prefix = prefix ~= "" and retry.closest(prefix, prefixes) end
  local hint = prefix and retry.closest(last, by_prefix[prefix])
  return hint and prefix .. hint
end

-- Returns require(NAME) for a module that is not in the playbook's folder
-- or MNEM_PATH. When NAME is found nowhere, raises at the playbook line
-- that required it, with the closest module name and the folders searched
-- on one line, in place of Lua's list of every file tried.
local function require_elsewhere(name)
  local ok, result = pcall(require, name)
  if ok then return result end
  if type(name) ~= "string" or not tostring(result):find(("module '%s' not found:"):format(name), 1, true) then
    error(result, 0)
  end
  local folders = search_folders()
  local hint = closest_module(name, module_names(name, folders))
  local searched = #folders > 0 and table.concat(folders, ", ") .. " and mnem's built-in library"
    or "mnem's built-in library"
  misuse.raise(("module %q not found%s; searched %s"):format(name,
    hint and (" (did you mean %q?)"):format(hint) or "", searched), 2)
end

-- Returns the `locate` function of a playbook node (see field_node) for
-- the table passed to the `playbook` call on line LINE of file SOURCE, or
-- returned by SOURCE's main chunk when LINE is nil. The file is read again
-- only when the first mistake is reported.
local function playbook_locator(source, line)
  local positions
  return function(keys)
    if positions == nil then
      positions = source_lines.constructor(source, line and "playbook", line) or false
    end
    return positions and source_lines.field_line(positions, keys) or nil
  end
end

-- Makes the environment playbook files and their recipes run in.
local function make_env(state)
  local env = {}
  local dsl = {}
  function dsl.playbook(def)
    local source, line = call_site(2)
    local site = { source = source, line = line }
    if type(def) ~= "table" then
      return fail(site, ("playbook expects a table of fields, got a %s"):format(type(def)))
    end
    if state.declared then
      fail(site, ("a file may declare only one playbook; the first is at line %d"):format(state.declared.line))
      return state.declared
    end
    local pb = { kind = "playbook", source = source, line = line, what = "playbook", values = state.values,
                 locate = playbook_locator(source, line), keys = {} }
    state.declared = validate_playbook(pb, def, state.path)
    return state.declared
  end
  dsl.step, dsl.group, dsl.vars = M.step, M.group, state.values
  -- print masks secrets like every other output of a run.
  function dsl.print(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stdout:write(secret.redact(table.concat(parts, "\t", 1, parts.n)), "\n")
  end
  dsl.io = masked_io()
  -- Recipes loaded from the playbook folder or MNEM_PATH share this
  -- environment, so they can use step, aws, exec and the rest too.
  function dsl.require(name)
    if name == "io" then return dsl.io end
    if package.loaded[name] ~= nil then return package.loaded[name] end
    local file = type(name) == "string" and package.searchpath(name, package.path)
    if not file then return require_elsewhere(name) end
    local chunk, message = loadfile(file, "t", env)
    if not chunk then error(message, 0) end
    local result = chunk(name, file)
    if result == nil then result = true end
    package.loaded[name] = result
    return result
  end
  setmetatable(env, { __index = function(_, key)
    local value = dsl[key]
    if value ~= nil then return value end
    local loader = LAZY[key]
    if loader then
      value = loader()
      rawset(env, key, value)
      return value
    end
    return _G[key]
  end })
  return env
end

--- Returns the sorted list of the tags that the steps and groups of
-- playbook PB (from `load`) carry, each once.
function M.tags(pb)
  local seen, list = {}, {}
  local function walk(nodes)
    for _, node in ipairs(nodes) do
      for _, tag in ipairs(node.tags or {}) do
        if not seen[tag] then
          seen[tag] = true
          list[#list + 1] = tag
        end
      end
      if node.kind == "group" then walk(node.steps) end
    end
  end
  walk(pb.steps)
  table.sort(list)
  return list
end

-- Returns the texts of the mistakes in LIST, grouped by file in the order
-- the files first appear and sorted by line within each file.
local function sorted_texts(list)
  local file_order = {}
  for i, p in ipairs(list) do
    p.index = i
    if not file_order[p.source] then file_order[p.source] = i end
  end
  table.sort(list, function(a, b)
    if a.source ~= b.source then return file_order[a.source] < file_order[b.source] end
    if a.line ~= b.line then return a.line < b.line end
    return a.index < b.index
  end)
  local texts = {}
  for i, p in ipairs(list) do texts[i] = p.text end
  return texts
end

-- The metatable of the table `vars` and ctx.vars show while the file
-- loads. Step definitions are evaluated before `playbook { ... }` declares
-- the variables and before --var is parsed, so no value is known yet.
-- Plain Lua would return nil, and `timeout = vars.wait` would silently set
-- no timeout.
local LOADING_VALUES_MT = {
  __index = function(_, key)
    misuse.raise(("vars.%s is read while the playbook file loads, but variables get their values only when"
      .. " the run starts: read it inside a step function, as in run = function(ctx) ... ctx.vars.%s ... end")
      :format(tostring(key), tostring(key)), 2)
  end,
}

-- Runs the playbook file PATH and returns the playbook it declares, or nil.
-- Mistakes go to `problems`; an error that stops the file is added last.
local function run_file(path)
  local st = require("mnem._sys").stat(path)
  if not st then error(("playbook %s not found"):format(path), 0) end
  if st.type ~= "file" then error(("playbook %s is not a regular file"):format(path), 0) end
  paths.setup(path)
  local state = { path = path, values = setmetatable({}, LOADING_VALUES_MT) }
  local env = make_env(state)
  local chunk, message = loadfile(path, "t", env)
  if not chunk then error(message, 0) end
  local ok, result = pcall(chunk)
  if not ok then
    -- The file stopped here, so the texts of the mistakes found before
    -- come first and this one last.
    local text = type(result) == "string" and result or tostring(result)
    problems[#problems + 1] = { source = "\0", line = math.maxinteger, text = text }
    return nil
  end
  if state.declared then return state.declared end
  if type(result) == "table" and result.kind == "playbook" then return result end
  if type(result) == "table" then
    local pb = { kind = "playbook", source = path, line = 1, what = "playbook", values = state.values,
                 locate = playbook_locator(path, nil), keys = {} }
    return validate_playbook(pb, result, path)
  end
  if #problems == 0 then
    problems[1] = { source = path, line = 0, text = ("%s: declares no playbook: call playbook { name = ...,"
      .. " steps = { ... } } or return such a table"):format(path) }
  end
  return nil
end

--- Loads and validates the playbook file PATH without running any step,
-- and reports every mistake it finds in one pass. Returns the playbook (as
-- `load` does) and an empty list, or nil and the list of mistakes, each a
-- text "FILE:LINE: WHERE: MESSAGE" (a syntax error or an error that
-- stopped the file has Lua's own text), in file and line order. Raises a
-- string error when PATH is missing or not a regular file.
function M.check(path)
  if type(path) ~= "string" then error("playbook.check: path must be a string", 2) end
  local saved = problems
  problems = {}
  source_lines.forget()
  local ok, pb = pcall(run_file, path)
  local found = problems
  problems = saved
  if not ok then
    if #found == 0 then error(pb, 0) end
    found[#found + 1] = { source = "\0", line = math.maxinteger, text = tostring(pb) }
  end
  if #found > 0 then return nil, sorted_texts(found) end
  return pb, {}
end

--- Loads and validates the playbook file PATH without running any step.
-- Returns the playbook: { name, description, path, steps (nodes), deadline
-- and retry (normalized), follow_up, var_specs, var_order, values (the
-- table `vars` and ctx.vars show, filled by resolve_vars) }. Raises a string
-- error listing every mistake found, one "FILE:LINE: ..." line each.
function M.load(path)
  if type(path) ~= "string" then error("playbook.load: path must be a string", 2) end
  local pb, found = M.check(path)
  if not pb then error(table.concat(found, "\n"), 0) end
  return pb
end

-- Returns the metatable of PB.values once its variables are resolved:
-- reading a name PB does not declare raises a misuse error at the reading
-- line with the closest declared name, where plain Lua would return nil.
-- A declared variable without a value (optional, unset) reads as nil.
local function resolved_values_mt(pb)
  return {
    __index = function(_, key)
      if pb.var_specs[key] then return nil end
      local shown = type(key) == "string" and ("%q"):format(key) or tostring(key)
      local hint = type(key) == "string" and retry.closest(key, pb.var_order)
      local advice
      if hint then
        advice = (" (did you mean %q?)"):format(hint)
      elseif #pb.var_order > 0 then
        advice = "; the playbook's variables are " .. table.concat(pb.var_order, ", ")
      else
        advice = "; the playbook declares no variables (declare them in its vars = { ... })"
      end
      misuse.raise(("unknown variable %s%s"):format(shown, advice), 2)
    end,
  }
end

local function var_error(spec, source, message)
  return ("variable %q (from %s): %s"):format(spec.name, source, message)
end

--- Fills PB.values with the typed value of each variable: its default,
-- overridden by the environment variable MNEM_VAR_<NAME> (GETENV, default
-- os.getenv, lets tests pass their own), then by CLI_VARS, a list of
-- "NAME=VALUE" texts from --var. Secret values are marked secret. Raises a
-- string error with one line for each invalid --var and each variable with
-- an invalid or missing value, naming the variable, the value and what was
-- expected.
function M.resolve_vars(pb, cli_vars, getenv)
  getenv = getenv or os.getenv
  local given, messages = {}, {}
  for _, text in ipairs(cli_vars or {}) do
    local name, value = text:match("^([^=]+)=(.*)$")
    if not name then
      messages[#messages + 1] = ("--var %q: expected NAME=VALUE"):format(text)
    elseif not pb.var_specs[name] then
      local hint = retry.closest(name, pb.var_order)
      messages[#messages + 1] = ("--var %s: playbook %q has no variable %q%s"):format(name, pb.name, name,
        hint and (" (did you mean %q?)"):format(hint) or
        (#pb.var_order > 0 and "; its variables are " .. table.concat(pb.var_order, ", ") or "; it declares none"))
    else
      given[name] = value
    end
  end
  for _, name in ipairs(pb.var_order) do
    local spec = pb.var_specs[name]
    if spec.type == "secret" then secret.mark(given[name]) secret.mark(getenv("MNEM_VAR_" .. name:upper())) end
  end
  for _, name in ipairs(pb.var_order) do
    local spec = pb.var_specs[name]
    local raw, source = given[name], "--var"
    if raw == nil then raw, source = getenv("MNEM_VAR_" .. name:upper()), "MNEM_VAR_" .. name:upper() end
    local value, message
    if raw ~= nil then
      value, message = convert_var(spec, raw, true)
      message = message or check_bounds(spec, value)
      if message then
        if spec.type == "secret" then message = message:gsub("%b\"\"", secret.MASK) end
        messages[#messages + 1] = var_error(spec, source, message)
      end
    else
      value = spec.value
    end
    if value == nil and not message and spec.required ~= false then
      messages[#messages + 1] = ("variable %q is required: pass --var %s=VALUE or set MNEM_VAR_%s"):format(name,
        name, name:upper())
    end
    if message then value = nil end
    if spec.type == "secret" then secret.mark(value) end
    pb.values[name] = value
  end
  setmetatable(pb.values, resolved_values_mt(pb))
  if #messages > 0 then error(table.concat(messages, "\n"), 0) end
  return pb.values
end

--- Returns the report of TEXTS, the mistakes found in playbook PATH (from
-- `check`, or the lines of a `resolve_vars` error), for the command
-- COMMAND: one line per mistake, each starting "mnem COMMAND: ", and a
-- last line with their count when there are several.
function M.report_mistakes(command, path, texts)
  local prefix = "mnem " .. command .. ": "
  local lines = {}
  for i, text in ipairs(texts) do lines[i] = prefix .. text end
  if #texts > 1 then lines[#lines + 1] = ("%s%s: %d mistakes"):format(prefix, path, #texts) end
  return table.concat(lines, "\n")
end

--- Calls FN(node, depth, parent) for every step and group of PB in order.
function M.walk(pb, fn)
  local function visit(list, depth, parent)
    for _, node in ipairs(list) do
      fn(node, depth, parent)
      if node.kind == "group" then visit(node.steps, depth + 1, node) end
    end
  end
  visit(pb.steps, 0, nil)
end

return M

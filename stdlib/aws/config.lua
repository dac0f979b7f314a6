-- aws.config: the shared AWS `config` and `credentials` files.
--
-- Both are INI files as the AWS CLI reads them: `[section]` headers and
-- `key = value` lines. Lines starting with `#` or `;` are comments. A key
-- with an empty value followed by indented `key = value` lines is a nested
-- table, as `[services NAME]` sections use. In the config file a
-- profile is `[profile NAME]` (`[default]` for the default profile); in the
-- credentials file it is `[NAME]`. Files are located as the CLI does:
-- AWS_CONFIG_FILE (default ~/.aws/config) and AWS_SHARED_CREDENTIALS_FILE
-- (default ~/.aws/credentials).
local secret = require("mnem.secret")

local M = {}

local SECRET_KEYS = { aws_secret_access_key = true, aws_session_token = true }

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

--- Parses the INI TEXT of a config or credentials file. Returns a table of
-- section name to { key = value | nested table }. Values of
-- aws_secret_access_key and aws_session_token are marked secret. Raises a
-- string naming SOURCE and the line for a line that is not valid.
function M.parse(text, source)
  local sections, current, nested_key = {}, nil, nil
  local line_number = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line_number = line_number + 1
    line = line:gsub("\r$", "")
    local indented = line:match("^%s+%S") ~= nil
    local stripped = trim(line)
    if stripped == "" or stripped:match("^[#;]") then
      goto continue
    end
    local header = stripped:match("^%[(.*)%]$")
    if header then
      current = {}
      sections[trim(header)] = current
      nested_key = nil
      goto continue
    end
    local key, value = stripped:match("^([^=]-)%s*=%s*(.*)$")
    if not key or key == "" or not current then
      error(("%s:%d: expected [section] or key = value, got %q"):format(source or "config", line_number, stripped), 0)
    end
    if indented and nested_key then
      current[nested_key][key] = value
    elseif value == "" then
      current[key] = {}
      nested_key = key
    else
      if SECRET_KEYS[key] then secret.mark(value) end
      current[key] = value
      nested_key = nil
    end
    ::continue::
  end
  return sections
end

local function expand_home(path)
  if path:sub(1, 2) == "~/" then
    local home = os.getenv("HOME")
    if home then return home .. path:sub(2) end
  end
  return path
end

--- Returns the path of the shared config file.
function M.config_path()
  return expand_home(os.getenv("AWS_CONFIG_FILE") or "~/.aws/config")
end

--- Returns the path of the shared credentials file.
function M.credentials_path()
  return expand_home(os.getenv("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials")
end

--- Reads and parses the INI file at PATH. A missing file is an empty table.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return {} end
  local text = f:read("a") or ""
  f:close()
  return M.parse(text, path)
end

--- Loads both shared files. Returns { config = sections, credentials =
-- sections, config_path =, credentials_path = }.
function M.load()
  local config_path, credentials_path = M.config_path(), M.credentials_path()
  return {
    config = M.read_file(config_path),
    credentials = M.read_file(credentials_path),
    config_path = config_path,
    credentials_path = credentials_path,
  }
end

--- Returns the settings of profile NAME from FILES (as M.load returns),
-- the credentials file's keys taking precedence, or nil when neither file
-- has the profile. The second result lists the sections that were found.
function M.profile(files, name)
  local from_config = files.config["profile " .. name]
  if not from_config and name == "default" then from_config = files.config.default end
  local from_credentials = files.credentials[name]
  if not from_config and not from_credentials then return nil end
  local merged, found = {}, {}
  if from_config then
    for k, v in pairs(from_config) do merged[k] = v end
    found[#found + 1] = files.config_path
  end
  if from_credentials then
    for k, v in pairs(from_credentials) do merged[k] = v end
    found[#found + 1] = files.credentials_path
  end
  return merged, found
end

--- Returns the `[services NAME]` section of the config file in FILES, or
-- nil.
function M.services(files, name)
  return files.config["services " .. name]
end

return M

-- aws.shape_value: timestamp conversions. to_iso writes epoch seconds of
-- years 1970 to 9999 with mnem._sys.format_epoch (C) and others with
-- format_iso (Lua). The C library's strftime (os.date) is the independent
-- reference for both. Text already in to_iso's form passes unparsed when
-- mnem._sys.is_canonical_iso accepts it, and that check must agree with the parser.
local t = require("t")
local shape_value = require("aws.shape_value")
local sys = require("mnem._sys")

-- The ISO-8601 text of epoch seconds VALUE by strftime, with milliseconds
-- when the fraction has any.
local function reference(value)
  local seconds = math.floor(value)
  local micros = math.floor((value - seconds) * 1e6 + 0.5)
  if micros >= 1000000 then seconds, micros = seconds + 1, micros - 1000000 end
  local text = os.date("!%Y-%m-%dT%H:%M:%S", seconds)
  local millis = micros // 1000
  if millis ~= 0 then text = text .. (".%03d"):format(millis) end
  return text .. "Z"
end

t.test("to_iso known epoch values", function()
  t.eq(shape_value.to_iso(0), "1970-01-01T00:00:00Z")
  t.eq(shape_value.to_iso(1704164645), "2024-01-02T03:04:05Z")
  t.eq(shape_value.to_iso(1704164645.25), "2024-01-02T03:04:05.250Z")
  t.eq(shape_value.to_iso(1704164645.061), "2024-01-02T03:04:05.061Z")
  t.eq(shape_value.to_iso(1704164645.0005), "2024-01-02T03:04:05Z")
  t.eq(shape_value.to_iso(951782400), "2000-02-29T00:00:00Z")
  t.eq(shape_value.to_iso(253402300799.5), "9999-12-31T23:59:59.500Z")
end)

t.test("to_iso matches strftime", function()
  local mismatches = {}
  local value = 0
  -- About 2000 pseudo-random seconds over 1970 to 9999, each also with
  -- fractions.
  for i = 1, 2000 do
    value = (value * 6364136223846793005 + 1442695040888963407) % 253402300800
    for _, sample in ipairs({ value, value + 0.5, value + 0.123456, value + 0.0009 }) do
      local got, expected = shape_value.to_iso(sample), reference(sample)
      if got ~= expected then mismatches[#mismatches + 1] = ("%d: %s ~= %s"):format(i, got, expected) end
    end
  end
  t.eq(mismatches, {})
end)

t.test("format_iso six fraction digits", function()
  t.eq(shape_value.format_iso(1704164645, 123456, 6), "2024-01-02T03:04:05.123456Z")
  t.eq(shape_value.format_iso(1704164645, 5, 6), "2024-01-02T03:04:05.000005Z")
end)

t.test("to_iso outside four-digit years", function()
  t.eq(shape_value.to_iso(-1), "1969-12-31T23:59:59Z")
  t.eq(shape_value.to_iso(-62135596800), "0001-01-01T00:00:00Z")
  t.eq(shape_value.to_iso(253402300800), "10000-01-01T00:00:00Z")
  t.eq(shape_value.to_iso("2024-01-02T03:04:05+01:00"), "2024-01-02T02:04:05Z")
  t.eq(shape_value.to_iso("yesterday"), nil)
  t.eq(shape_value.to_iso(0 / 0), nil)
  t.eq(shape_value.to_iso(math.huge), nil)
  t.eq(shape_value.to_iso(-1e300), nil)
  t.eq(shape_value.format_iso(-62135596800, 250000, 3), "0001-01-01T00:00:00.250Z")
end)

t.test("is_canonical_iso known texts", function()
  local canonical = { "2024-01-02T03:04:05Z", "2024-02-29T23:59:59.123Z", "1000-01-01T00:00:00.001Z",
    "9999-12-31T23:59:59Z", "2000-02-29T00:00:00Z" }
  for _, text in ipairs(canonical) do
    t.eq(sys.is_canonical_iso(text), true, text)
    t.eq(shape_value.to_iso(text), text, text)
  end
  local other = { "2024-01-02T03:04:05.000Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "0999-01-01T00:00:00Z",
    "2024-13-01T00:00:00Z", "2024-01-32T00:00:00Z", "2024-04-31T00:00:00Z", "2024-01-02T24:00:00Z",
    "2024-01-02T03:60:00Z", "2024-01-02T03:04:60Z", "2024-01-02T03:04:05.12Z", "2024-01-02T03:04:05+00:00",
    "2024-01-02 03:04:05Z", "2024-01-02T03:04:05z", "2024-01-02T03:04:05.1234Z", "", "2024-01-0xT03:04:05Z" }
  for _, text in ipairs(other) do t.eq(sys.is_canonical_iso(text), false, text) end
end)

t.test("is_canonical_iso agrees with the parser", function()
  -- Pseudo-random date-times, some with out-of-range fields and
  -- milliseconds: whenever the fast check accepts a text, parsing and
  -- writing it again gives the same text.
  local disagreements = {}
  local state = 12345
  local function next_int(n)
    state = (state * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
    return (state >> 20) % n
  end
  for _ = 1, 20000 do
    local text = ("%04d-%02d-%02dT%02d:%02d:%02d"):format(next_int(10001), next_int(14), next_int(33),
      next_int(26), next_int(62), next_int(62))
    if next_int(2) == 0 then text = text .. (".%03d"):format(next_int(1000)) end
    text = text .. "Z"
    local seconds, micros = shape_value.parse_timestamp(text)
    local written = seconds and shape_value.format_iso(seconds, micros, 3)
    if sys.is_canonical_iso(text) and written ~= text then disagreements[#disagreements + 1] = text end
  end
  t.eq(disagreements, {})
end)

return t.done()

-- mnem.lua_tokens splits Lua source into tokens with their lines and byte
-- positions, for mnem.source_lines and sim.scenario_lines.
local t = require("t")
local lua_tokens = require("mnem.lua_tokens")

-- Returns the tokens of SOURCE as "kind text line" strings.
local function summary(source)
  local list = {}
  for _, token in ipairs(lua_tokens.tokenize(source)) do
    list[#list + 1] = ("%s %s %d"):format(token.kind, token.text, token.line)
  end
  return list
end

t.test("names keywords and operators", function()
  t.eq(summary("local x_1 = a.b ... c .. d == e ~= f // g :: h << i >> j <= k >= l"), {
    "keyword local 1", "name x_1 1", "punct = 1", "name a 1", "punct . 1", "name b 1", "punct ... 1", "name c 1",
    "punct .. 1", "name d 1", "punct == 1", "name e 1", "punct ~= 1", "name f 1", "punct // 1", "name g 1",
    "punct :: 1", "name h 1", "punct << 1", "name i 1", "punct >> 1", "name j 1", "punct <= 1", "name k 1",
    "punct >= 1", "name l 1" })
  t.eq(summary("if x then return end"), { "keyword if 1", "name x 1", "keyword then 1", "keyword return 1",
    "keyword end 1" })
  t.eq(summary("endx = 1"), { "name endx 1", "punct = 1", "number 1 1" }, "a keyword inside a longer name")
end)

t.test("positions match token text", function()
  local source = "x = { 'a', [[b\nc]] }\n  y"
  local tokens = lua_tokens.tokenize(source)
  t.eq(#tokens, 8)
  for _, token in ipairs(tokens) do
    t.eq(source:sub(token.first, token.last), token.text, "text of token at " .. token.first)
  end
  t.eq({ tokens[1].first, tokens[1].last }, { 1, 1 })
  t.eq({ tokens[4].first, tokens[4].last }, { 7, 9 }, "short string with its quotes")
  t.eq({ tokens[6].first, tokens[6].last }, { 12, 18 }, "long bracket over two lines")
  t.eq(tokens[8].text, "y")
  t.eq(tokens[8].line, 3)
  t.eq(tokens[8].first, #source)
end)

t.test("long brackets with levels", function()
  t.eq(summary("a = [==[ x ]] ]=] ]==] b"), { "name a 1", "punct = 1", "string [==[ x ]] ]=] ]==] 1", "name b 1" })
  t.eq(summary("[[\n\n]] b"), { "string [[\n\n]] 1", "name b 3" }, "lines after a long string")
  t.eq(summary("[=[\n]]\n]=] b"), { "string [=[\n]]\n]=] 1", "name b 3" }, "a closer of another level inside")
  t.eq(summary("x [ y ] [= z"), { "name x 1", "punct [ 1", "name y 1", "punct ] 1", "punct [ 1", "punct = 1",
    "name z 1" }, "brackets that open no long string")
end)

t.test("comments of both kinds", function()
  t.eq(summary("a -- line comment { }\nb"), { "name a 1", "name b 2" })
  t.eq(summary("a --[[ block\n{ comment ]] b"), { "name a 1", "name b 2" })
  t.eq(summary("a --[==[ x ]] ]=]\n\n]==] b"), { "name a 1", "name b 3" }, "block comment with a level")
  t.eq(summary("a --[= not a block\nb"), { "name a 1", "name b 2" }, "an unfinished opener makes a line comment")
  t.eq(summary("a -- last line"), { "name a 1" }, "line comment without a newline")
  t.eq(summary("a - b"), { "name a 1", "punct - 1", "name b 1" })
end)

t.test("escaped quotes in short strings", function()
  t.eq(summary([["a\"b" c]]), { [[string "a\"b" 1]], "name c 1" })
  t.eq(summary([['it\'s' c]]), { [[string 'it\'s' 1]], "name c 1" })
  t.eq(summary([["a\\" c]]), { [[string "a\\" 1]], "name c 1" }, "escaped backslash before the quote")
  t.eq(summary([["it's" 'say "x"' c]]), { [[string "it's" 1]], [[string 'say "x"' 1]], "name c 1" },
    "the other quote inside")
end)

t.test("escaped newlines in short strings", function()
  t.eq(summary('x = "a\\\nb" y'), { "name x 1", "punct = 1", 'string "a\\\nb" 1', "name y 2" })
  t.eq(summary('"a\\z\n  b" y'), { 'string "a\\z\n  b" 1', "name y 2" }, "\\z before a newline")
end)

t.test("numerals with exponents", function()
  t.eq(summary("1e-5 0x1p+4 2E+10 .5e-3 3.25 0xFF 1e5"), { "number 1e-5 1", "number 0x1p+4 1", "number 2E+10 1",
    "number .5e-3 1", "number 3.25 1", "number 0xFF 1", "number 1e5 1" })
  t.eq(summary("x=1-2"), { "name x 1", "punct = 1", "number 1 1", "punct - 1", "number 2 1" })
  t.eq(summary("a..1"), { "name a 1", "punct .. 1", "number 1 1" })
end)

t.test("exponent sign without a digit", function()
  t.eq(summary("0xe+x"), { "number 0xe 1", "punct + 1", "name x 1" })
  t.eq(summary("0xe--comment\ny"), { "number 0xe 1", "name y 2" }, "a comment right after a numeral")
end)

t.test("unclosed short string", function()
  local source = "a = 'open\nb = { 1 }\n"
  t.eq(summary(source), { "name a 1", "punct = 1", "string 'open\nb = { 1 }\n 1" }, "runs to the end of the source")
  t.eq(summary('x "abc\\'), { "name x 1", 'string "abc\\ 1' }, "backslash at the end of the source")
end)

t.test("unclosed long brackets", function()
  t.eq(summary("a [==[ x ]] ]=]\n{ b"), { "name a 1", "string [==[ x ]] ]=]\n{ b 1" })
  t.eq(summary("a --[[ x\n{ b"), { "name a 1" }, "unclosed block comment")
end)

t.test("white space and lines", function()
  t.eq(summary("\n\t a\r\n\n  b\f c"), { "name a 2", "name b 4", "name c 4" })
  t.eq(summary(""), {})
  t.eq(summary("\195\169"), { "punct \195 1", "punct \169 1" }, "bytes outside ASCII are single characters")
end)

t.test("block keywords", function()
  local tokens = lua_tokens.tokenize("function if do repeat while for end until then x")
  local opens, closes = {}, {}
  for _, token in ipairs(tokens) do
    if lua_tokens.opens_block(token) then opens[#opens + 1] = token.text end
    if lua_tokens.closes_block(token) then closes[#closes + 1] = token.text end
  end
  t.eq(opens, { "function", "if", "do", "repeat" })
  t.eq(closes, { "end", "until" })
  t.eq(lua_tokens.opens_block({ kind = "string", text = "do" }), false, "only keywords open blocks")
end)

return t.done()

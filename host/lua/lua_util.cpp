#include "lua_util.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace gom::lua {

RunContext& context(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "gom.context");
  auto* ctx = static_cast<RunContext*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (!ctx) luaL_error(L, "gom: no run context (the state was not made by gom::lua::Runtime)");
  return *ctx;
}

Shape check_shape(lua_State* L, int idx) {
  Shape shape;
  if (lua_istable(L, idx)) {
    const lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_geti(L, idx, i);
      int exact = 0;
      const bool number = lua_type(L, -1) == LUA_TNUMBER;
      const lua_Integer d = number ? lua_tointegerx(L, -1, &exact) : 0;  // 1e6 is accepted
      if (!exact) {
        // A whole number too large for an integer is a size problem, not a type one.
        const lua_Number x = number ? lua_tonumber(L, -1) : 0.5;
        if (x == std::floor(x))
          luaL_error(L, "shape: element %d (%s) is too large for a size (at most 2^63 - 1)",
                     int(i), luaL_tolstring(L, -1, nullptr));
        luaL_error(L, "shape: element %d is a %s, not an integer", int(i), luaL_typename(L, -1));
      }
      shape.push_back(d);
      lua_pop(L, 1);
    }
    return shape;
  }
  for (int i = idx; i <= lua_gettop(L); ++i) shape.push_back(luaL_checkinteger(L, i));
  return shape;
}

int64_t check_dim(lua_State* L, int idx) {
  return luaL_checkinteger(L, idx);
}

namespace {

bool is_array(lua_State* L, int idx) {
  idx = lua_absindex(L, idx);
  const lua_Integer n = luaL_len(L, idx);
  lua_pushnil(L);
  lua_Integer count = 0;
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    ++count;
  }
  return count == n;
}

}  // namespace

Value to_value(lua_State* L, int idx, const std::string& what) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
      return Value(bool(lua_toboolean(L, idx)));
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return Value(int64_t(lua_tointeger(L, idx)));
      return Value(double(lua_tonumber(L, idx)));
    case LUA_TSTRING:
      return Value(std::string(lua_tostring(L, idx)));
    case LUA_TTABLE: {
      if (!is_array(L, idx))
        throw Error(fmt::format("{}: a table of key = value pairs is not a value (give a list "
                                "such as {{0.9, 0.999}}, a number, a string or a boolean)",
                                what));
      Value::List list;
      const lua_Integer n = luaL_len(L, idx);
      for (lua_Integer i = 1; i <= n; ++i) {
        lua_geti(L, idx, i);
        list.push_back(to_value(L, -1, fmt::format("{}[{}]", what, i)));
        lua_pop(L, 1);
      }
      return Value(std::move(list));
    }
    default:
      throw Error(fmt::format("{}: a {} is not a parameter value (accepted: a number, a string, "
                              "a boolean or a list of those)",
                              what, luaL_typename(L, idx)));
  }
}

void push_value(lua_State* L, const Value& v) {
  if (v.is_null()) {
    lua_pushnil(L);
  } else if (v.is_bool()) {
    lua_pushboolean(L, v.as_bool());
  } else if (v.is_int()) {
    lua_pushinteger(L, v.as_int());
  } else if (v.is_number()) {
    lua_pushnumber(L, v.as_number());
  } else if (v.is_string()) {
    lua_pushstring(L, v.as_string().c_str());
  } else {
    const auto& list = v.as_list();
    lua_createtable(L, int(list.size()), 0);
    for (size_t i = 0; i < list.size(); ++i) {
      push_value(L, list[i]);
      lua_seti(L, -2, lua_Integer(i + 1));
    }
  }
}

Config to_config(lua_State* L, int idx, const std::string& owner) {
  Config config;
  idx = lua_absindex(L, idx);
  if (lua_isnoneornil(L, idx)) return config;
  if (!lua_istable(L, idx))
    throw Error(fmt::format("{}: the parameters must be a table such as {{key = value}}, not a {}",
                            owner, luaL_typename(L, idx)));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 2);
      throw Error(fmt::format("{}: parameters are named (key = value); a positional value was "
                              "given",
                              owner));
    }
    const std::string key = lua_tostring(L, -2);
    config[key] = to_value(L, -1, fmt::format("{}: parameter '{}'", owner, key));
    lua_pop(L, 1);
  }
  return config;
}

ParamType type_of(const Value& v) {
  if (v.is_bool()) return ParamType::Bool;
  if (v.is_int()) return ParamType::Int;
  if (v.is_number()) return ParamType::Number;
  if (v.is_list()) return ParamType::List;
  return ParamType::String;
}

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::optional<double> parse_number(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(t.c_str(), &end);
  if (*end != '\0' || errno == ERANGE) return std::nullopt;
  return d;
}

}  // namespace

Value parse_override(const std::string& key, const std::string& text, ParamType type) {
  const auto bad = [&](const char* expected) {
    return Error(fmt::format("--set {}={}: '{}' takes {}", key, text, key, expected));
  };
  switch (type) {
    case ParamType::Int: {
      const auto d = parse_number(text);
      if (!d || *d != double(int64_t(*d))) throw bad("an integer (such as 3)");
      return Value(int64_t(*d));
    }
    case ParamType::Number: {
      const auto d = parse_number(text);
      if (!d) throw bad("a number (such as 0.001 or 1e-3)");
      return Value(*d);
    }
    case ParamType::Bool: {
      const std::string t = trim(text);
      if (t == "true" || t == "1" || t == "yes" || t == "on") return Value(true);
      if (t == "false" || t == "0" || t == "no" || t == "off") return Value(false);
      throw bad("true or false");
    }
    case ParamType::List: {
      std::string t = trim(text);
      if (t.size() >= 2 && (t.front() == '[' || t.front() == '{') &&
          (t.back() == ']' || t.back() == '}'))
        t = t.substr(1, t.size() - 2);
      Value::List list;
      size_t start = 0;
      while (!trim(t).empty() && start <= t.size()) {
        const size_t comma = t.find(',', start);
        const std::string item = t.substr(start, comma - start);
        const auto d = parse_number(item);
        if (!d) list.emplace_back(trim(item));
        else if (item.find_first_of(".eE") == std::string::npos) list.emplace_back(int64_t(*d));
        else list.emplace_back(*d);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      return Value(std::move(list));
    }
    case ParamType::String:
    case ParamType::Enum:
      return Value(text);
  }
  throw bad("a value");
}

Params validated(ComponentKind kind, const std::string& name, const Config& config) {
  const ComponentInfo& info = find_component(kind, name);
  return validate(fmt::format("{} '{}'", kind_name(kind), name), info.schema, config);
}

void add_methods(lua_State* L, const char* metatable, const luaL_Reg* methods) {
  luaL_getmetatable(L, metatable);
  lua_getfield(L, -1, "__index");
  luaL_setfuncs(L, methods, 0);
  lua_pop(L, 2);
}

void set_functions(lua_State* L, const luaL_Reg* fns) {
  luaL_setfuncs(L, fns, 0);
}

}  // namespace gom::lua

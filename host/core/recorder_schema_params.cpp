// recorder_schema_params.cpp — schema v6 of the run database: the view param_values, the params
// typed for SQL (a number compares as a number, a string without its quotes).
#include <string>

#include "recorder_internal.h"

namespace gom::recorder_detail {

// Never edit it (a later version that changes the view gets a constant of its own); run_query
// reads it through a WITH clause too, so that a file it could not migrate is queried the same.
// params.value holds what the run recorded: gom.params values as gom writes them (numbers as
// text, "1e-05"; booleans true/false; strings in double quotes, unescaped; lists in brackets)
// and other text as given (optimizer.type, a study's overrides). One row per param:
// - type: 'integer', 'real', 'boolean', 'string', 'list', 'object' or 'null';
// - number: the value of an integer or real (±inf as ±Inf, nan as NULL), 1/0 for a boolean;
// - text: a string without its quotes (a value that is neither JSON nor a number as it is).
const char* const kParamValuesSelect = R"sql(
SELECT
  run_id,
  key,
  value,
  type,
  CASE type
    WHEN 'integer' THEN CAST(value AS INTEGER)
    WHEN 'real' THEN CASE value WHEN 'inf' THEN 9e999 WHEN '-inf' THEN -9e999
                                WHEN 'nan' THEN NULL ELSE CAST(value AS REAL) END
    WHEN 'boolean' THEN value = 'true'
  END AS number,
  CASE WHEN type = 'string' THEN
    CASE WHEN length(value) >= 2 AND value LIKE '"%"' THEN substr(value, 2, length(value) - 2)
         ELSE value END
  END AS text
FROM (
  SELECT run_id, key, value,
    CASE
      WHEN value IS NULL OR value = 'null' THEN 'null'
      WHEN value IN ('true', 'false') THEN 'boolean'
      WHEN value IN ('inf', '-inf', 'nan') THEN 'real'
      WHEN json_valid(value) THEN
        CASE json_type(value) WHEN 'integer' THEN 'integer' WHEN 'real' THEN 'real'
                              WHEN 'array' THEN 'list' WHEN 'object' THEN 'object'
                              ELSE 'string' END
      ELSE 'string'
    END AS type
  FROM params
)
)sql";

// v6: param_values, the params typed (see kParamValuesSelect). A view: no row is rewritten.
const std::string kSchemaV6Params = std::string(R"sql(
-- One row per param: value as recorded; type; number (integers, reals, booleans as 1/0) and
-- text (strings, unquoted) to compare in SQL: WHERE key = 'optimizer.lr' AND number < 1e-2.
CREATE VIEW param_values AS)sql") + kParamValuesSelect +
                                    ";\n";

}  // namespace gom::recorder_detail

// eslint (dev-only, `make lint`): the console's ES modules run in the browser; tests and scripts in node.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["services/gateway/console/vendor/**"] }, // vendored from npm as published (scripts/vendor-*.mjs)
  js.configs.recommended,
  {
    files: ["services/gateway/console/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.browser } },
    rules: {
      "no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-implied-eval": "error",
      "no-eval": "error",
      "no-new-func": "error",
      "prefer-const": "error",
      "no-var": "error",
      eqeqeq: ["error", "smart"],
      // Text only: data never goes through innerHTML (the console builds elements with lib/dom.js).
      "no-restricted-properties": ["error",
        { property: "innerHTML", message: "build elements with h(); never innerHTML" },
        { property: "outerHTML", message: "build elements with h(); never outerHTML" }],
      "no-restricted-syntax": ["error",
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: "never insert HTML" }],
    },
  },
  {
    files: ["tests/console/**/*.js", "tests/console/**/*.mjs", "scripts/**/*.mjs"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.node } },
  },
];

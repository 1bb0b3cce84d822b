// Prettier for the mini-program, as TDesign's mini-program repo sets it up: WXSS through the CSS
// parser, WXML through the HTML parser with every space significant (`strict`), so formatting
// never adds or drops whitespace that <text> and inline views would show. The JavaScript keeps the
// style it was written in (no semicolons, single quotes, no trailing commas); 100 columns as ruff.
module.exports = {
  printWidth: 100,
  semi: false,
  singleQuote: true,
  trailingComma: 'none',
  arrowParens: 'avoid',
  endOfLine: 'lf',
  overrides: [
    { files: '*.wxss', options: { parser: 'css' } },
    { files: '*.wxml', options: { parser: 'html', htmlWhitespaceSensitivity: 'strict' } }
  ]
}

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', require: 'readonly', module: 'readonly', __dirname: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Lazy loading of brokers and task modules is on purpose (see src/brokerFactory.ts).
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // The dashboard's scripts run in the browser, as ES modules: its globals, not Node's.
    files: ['server/dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'fetch', 'sessionStorage', 'URLSearchParams', 'CSS', 'Node', 'Event', 'HashChangeEvent', 'FormData', 'setTimeout', 'clearTimeout', 'performance'].map((name) => [name, 'readonly']),
      ),
    },
  },
);

import type { Recipe } from '../src/access/matrix.test.ts';

/** Recipes for the expenses and audit routes of the access matrix. */
export const EXPENSE_RECIPES: Record<string, Recipe> = {};
